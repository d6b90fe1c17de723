//! keepalived.conf front end: the seed configuration (etc/keepalived/lb1.conf, lb2.conf) field by
//! field, Debian's keepalived 2.2.7 samples, includes, lexical corner cases, and every error path
//! with its exact `file:line:col: error: ...` line.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use lbcore::config::keepalived::parse_str;
use lbcore::config::load_vrrp;
use lbcore::config::vrrp::*;
use lbcore::diag::Diagnostics;
use lbcore::vrrp::fsm::AddrListPolicy;
use lbcore::vrrp::packet::{AuthData, V3Ipv4Checksum, Version};

/// Parses `text` as if read from `t.conf`.
fn parse(text: &str) -> (Option<VrrpConfig>, Diagnostics) {
    parse_str(text, Path::new("t.conf"))
}

/// Parses `text` that must be accepted; returns the config and the diagnostics as text.
fn ok(text: &str) -> (VrrpConfig, String) {
    let (c, d) = parse(text);
    match c {
        Some(c) => (c, d.to_string()),
        None => panic!("rejected:\n{d}"),
    }
}

/// A minimal valid instance around `body`.
fn inst(body: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n virtual_router_id 51\n virtual_ipaddress {{\n  192.0.2.100\n }}\n{body}\n}}\n"
    )
}

fn diag_lines(d: &Diagnostics) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

// ---- the seed, completed ------------------------------------------------------------------------

#[test]
fn lb1_conf_is_the_seed_box_a_field_by_field() {
    let path = Path::new("../../etc/keepalived/lb1.conf");
    let (c, d) = load_vrrp(path);
    assert_eq!(
        diag_lines(&d),
        ["../../etc/keepalived/lb1.conf:36:19: warning: truncating auth_pass to 8 characters"]
    );
    let c = c.expect("lb1.conf is valid");

    let g = &c.global;
    assert_eq!(g.notification_email, ["admin@example.com"]);
    assert_eq!(
        g.notification_email_from.as_deref(),
        Some("keepalived@loadbalancer01.example.com")
    );
    assert_eq!(g.smtp_server, Some(("192.0.2.25".to_string(), 25)));
    assert_eq!(g.smtp_connect_timeout, Duration::from_secs(30));
    assert_eq!(g.smtp_alert, None);
    assert_eq!(g.router_id, None);
    assert_eq!(g.vrrp_version, Version::V2);
    assert!(!g.vrrp_strict);
    assert_eq!(g.mcast_group4, Ipv4Addr::new(224, 0, 0, 18));
    assert_eq!(g.garp, GarpConfig::default());
    assert_eq!(g.default_interface, "eth0");
    assert_eq!(g.v3_ipv4_checksum, V3Ipv4Checksum::WithPseudoHeader);

    assert_eq!(c.scripts.len(), 1);
    let s = &c.scripts["chk_haproxy"];
    assert_eq!(s.name, "chk_haproxy");
    assert_eq!(s.command.argv, ["killall", "-0", "haproxy"]);
    assert_eq!(s.command.user, None);
    assert_eq!(
        s.command.span.to_string(),
        "../../etc/keepalived/lb1.conf:23:12"
    );
    assert_eq!(s.interval, Duration::from_secs(5));
    assert_eq!(
        s.timeout,
        Duration::from_secs(5),
        "timeout defaults to the interval"
    );
    assert_eq!(
        s.weight,
        Weight {
            value: 2,
            reverse: false
        }
    );
    assert_eq!((s.rise, s.fall), (1, 1));
    assert!(!s.init_fail);
    assert!(c.track_processes.is_empty());
    assert!(c.sync_groups.is_empty());

    assert_eq!(c.instances.len(), 1);
    let i = &c.instances[0];
    assert_eq!(i.name, "VI_1");
    assert_eq!(i.span.to_string(), "../../etc/keepalived/lb1.conf:28:15");
    assert_eq!(i.initial_state, Some(InitialState::Master));
    assert_eq!(i.interface, "eth0");
    assert_eq!(i.vrid, 51);
    assert_eq!(i.priority, 101);
    assert_eq!(i.advert_int, Duration::from_secs(1));
    assert_eq!(i.version, Version::V2);
    assert!(!i.ipv6);
    assert!(i.preempt);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!(i.auth, AuthData::Pass(*b"somepass"));
    assert_eq!(i.vips.len(), 1);
    let vip = &i.vips[0];
    assert_eq!(vip.addr, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)));
    assert_eq!(vip.prefix_len, 32);
    assert_eq!(
        (vip.dev.as_deref(), vip.broadcast, vip.scope),
        (None, Broadcast::None, Scope::Global)
    );
    assert_eq!(vip.span.to_string(), "../../etc/keepalived/lb1.conf:39:9");
    assert!(i.excluded_vips.is_empty());
    assert_eq!(i.track_script.len(), 1);
    assert_eq!(i.track_script[0].name, "chk_haproxy");
    assert_eq!(
        i.track_script[0].weight, None,
        "the script's own weight applies"
    );
    assert!(i.track_interface.is_empty() && i.track_process.is_empty());
    assert!(!i.dont_track_primary);
    assert_eq!(i.src_ip, None);
    assert!(i.unicast_peers.is_empty());
    assert!(i.accept);
    assert_eq!(i.garp, GarpConfig::default());
    assert_eq!(i.down_timer_adverts, 3);
    assert!(!i.lower_prio_no_advert);
    assert!(
        i.higher_prio_send_advert,
        "on by default in vrrpd (split-brain hygiene), off in keepalived"
    );
    assert!(g.higher_prio_send_advert);
    assert_eq!(i.v3_ipv4_checksum, V3Ipv4Checksum::WithPseudoHeader);
    assert_eq!(i.addr_list_policy, AddrListPolicy::Drop);
    assert_eq!(i.notify, Notify::default());
    assert!(i.smtp_alert);
    assert!(!i.strict);
}

#[test]
fn lb2_conf_differs_from_lb1_only_in_state_and_priority() {
    let (a, _) = load_vrrp(Path::new("../../etc/keepalived/lb1.conf"));
    let (b, d) = load_vrrp(Path::new("../../etc/keepalived/lb2.conf"));
    assert_eq!(d.error_count(), 0, "{d}");
    let (a, b) = (a.unwrap().without_spans(), b.unwrap().without_spans());
    assert_eq!(b.instances[0].initial_state, Some(InitialState::Backup));
    assert_eq!(b.instances[0].priority, 100);
    let mut a2 = a.clone();
    a2.instances[0].initial_state = Some(InitialState::Backup);
    a2.instances[0].priority = 100;
    assert_eq!(a2, b);
}

// ---- Debian's samples -----------------------------------------------------------------------------

/// What `keepalived -t -f FILE` (Debian 12, 2.2.7) said about each VRRP sample, run in a network
/// namespace with interfaces eth0..eth3 (veth) so that "interface does not exist" does not
/// count, and what we do. keepalived's -t exit codes: 0 ok, 5 non-fatal config errors, 6 security
/// violation (scripts without enable_script_security).
const SAMPLES: &[(&str, i32, &str, bool)] = &[
    ("keepalived.conf.sample", 0, "", true),
    ("keepalived.conf.vrrp", 0, "", true),
    ("keepalived.conf.vrrp.scripts", 0, "", true),
    ("keepalived.conf.vrrp.sync", 0, "", true),
    (
        "keepalived.conf.vrrp.localcheck",
        6,
        "SECURITY VIOLATION only",
        true,
    ),
    (
        "keepalived.conf.SSL_GET",
        5,
        "Initial state master is incompatible with AH authentication - clearing",
        true,
    ),
    (
        "keepalived.conf.conditional_conf",
        5,
        "No script set for vrrp_script check_VI_0 - removing; track script not found",
        true,
    ),
    (
        "keepalived.conf.track_interface",
        5,
        "cannot track route with no interface (virtual_routes)",
        true,
    ),
    (
        "keepalived.conf.vrrp.routes",
        5,
        "route warnings (deprecated 'or'/'gw', untrackable routes)",
        true,
    ),
    (
        "keepalived.conf.vrrp.static_ipaddress",
        5,
        "cannot track static route with no interface",
        true,
    ),
    (
        "keepalived.conf.vrrp.rules",
        5,
        "invalid IP 192.168.100./24 in a rule (skipped by keepalived)",
        true,
    ),
    (
        "keepalived.conf.vrrp.lvs_syncd",
        5,
        "Unknown keyword 'VI_2', 'VI_3' (sync group without group { })",
        false,
    ),
];

#[test]
fn debian_samples_keepalived_accepts_are_accepted() {
    let dir = Path::new("tests/conf/debian-samples");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("keepalived.conf"))
        .collect();
    files.sort();
    let mut listed: Vec<&str> = SAMPLES.iter().map(|s| s.0).collect();
    listed.sort();
    assert_eq!(files, listed, "every copied sample has a verdict");
    for (name, ka_rc, _, accept) in SAMPLES {
        let (c, d) = load_vrrp(&dir.join(name));
        assert_eq!(
            c.is_some(),
            *accept,
            "{name} (keepalived -t exit {ka_rc}):\n{d}"
        );
        if *ka_rc == 0 || *ka_rc == 6 {
            assert!(c.is_some(), "keepalived accepts {name}, so must we:\n{d}");
        }
    }
}

#[test]
fn debian_sample_vrrp_sync_model() {
    let (c, _) = load_vrrp(Path::new(
        "tests/conf/debian-samples/keepalived.conf.vrrp.sync",
    ));
    let c = c.unwrap();
    assert_eq!(c.sync_groups.len(), 2);
    let g = &c.sync_groups[0];
    assert_eq!(g.name, "G1");
    assert_eq!(
        g.members,
        ["VI_1", "VI_2", "VI_5", "VI_6", "VI_7", "VI_8", "VI_9"]
    );
    assert_eq!(
        g.notify.backup.as_ref().unwrap().argv,
        ["/usr/local/bin/vrrp.back", "arg1", "arg2"]
    );
    assert_eq!(c.sync_groups[1].members, ["VI_3", "VI_4"]);
    assert_eq!(c.instances.len(), 9);
    assert_eq!(c.instances[1].interface, "eth1");
}

#[test]
fn debian_sample_rejected_by_us_says_why() {
    let (c, d) = load_vrrp(Path::new(
        "tests/conf/debian-samples/keepalived.conf.vrrp.lvs_syncd",
    ));
    assert!(c.is_none());
    assert_eq!(
        diag_lines(&d),
        [
            "tests/conf/debian-samples/keepalived.conf.vrrp.lvs_syncd:4:3: error: unknown keyword 'VI_2' in vrrp_sync_group",
            "tests/conf/debian-samples/keepalived.conf.vrrp.lvs_syncd:5:3: error: unknown keyword 'VI_3' in vrrp_sync_group",
            "tests/conf/debian-samples/keepalived.conf.vrrp.lvs_syncd:11:5: warning: keepalived keyword 'lvs_sync_daemon_interface' (LVS / checkers) is not supported by vrrpd and is ignored",
            "tests/conf/debian-samples/keepalived.conf.vrrp.lvs_syncd:50:1: warning: keepalived keyword 'virtual_server' (LVS / checkers) is not supported by vrrpd and is ignored; its block is skipped",
            "tests/conf/debian-samples/keepalived.conf.vrrp.lvs_syncd:3:17: warning: vrrp_sync_group VG1 has no group { ... } of instances; it is removed",
        ]
    );
}

#[test]
fn debian_sample_conditional_lines_and_removed_script() {
    let (c, d) = load_vrrp(Path::new(
        "tests/conf/debian-samples/keepalived.conf.conditional_conf",
    ));
    let c = c.expect("accepted with warnings");
    let lines = diag_lines(&d);
    assert!(lines.contains(&"tests/conf/debian-samples/keepalived.conf.conditional_conf:3:1: warning: line applies only to config id 'high'; skipped (vrrpd has no config id)".to_string()), "{d}");
    assert!(lines.contains(&"tests/conf/debian-samples/keepalived.conf.conditional_conf:25:3: warning: vrrp_instance VI_0: track_script 'check_VI_0' was removed; ignoring it".to_string()), "{d}");
    let i = &c.instances[0];
    assert_eq!(
        (i.priority, i.version, i.advert_int),
        (100, Version::V3, Duration::from_secs(12))
    );
    assert_eq!(i.use_vmac, Some(vec![]));
    assert_eq!(
        i.track_interface[1].weight,
        Some(Weight {
            value: 20,
            reverse: false
        })
    );
    assert!(c.scripts.is_empty());
}

// ---- includes ---------------------------------------------------------------------------------

/// keepalived.conf(5) "Parameter substitution", on a file whose meaning keepalived 2.2.7 was
/// asked for (`keepalived -d`, see the file's header): the same instances come out.
#[test]
fn parameter_substitution_as_keepalived_does_it() {
    let (c, d) = load_vrrp(Path::new("tests/conf/params/main.conf"));
    let c = c.unwrap_or_else(|| panic!("rejected:\n{d}"));
    assert_eq!(
        diag_lines(&d),
        [
            "tests/conf/params/main.conf:25:1: warning: line applies only to config id 'main'; skipped (vrrpd has no config id)",
            "tests/conf/params/main.conf:29:1: warning: line applies only to config id 'main'; skipped (vrrpd has no config id)",
        ]
    );
    assert_eq!(c.instances.len(), 2);
    for (i, n) in c.instances.iter().zip([10u8, 11]) {
        assert_eq!(i.name, format!("VI_{n}"));
        assert_eq!((i.interface.as_str(), i.vrid, i.priority), ("eth0", n, 150));
        assert_eq!(
            i.vips
                .iter()
                .map(|a| a.addr.to_string())
                .collect::<Vec<_>>(),
            [format!("192.0.2.{n}")]
        );
        // Undefined parameters stay as written (keepalived: '/bin/echo' '${HOME}' '$UNDEF').
        let m = i.notify.master.as_ref().expect("notify_master");
        assert_eq!(m.argv, ["/bin/echo", "${HOME}", "$UNDEF"]);
        // Positions of substituted text are those of the reference.
        assert_eq!(
            i.span.to_string(),
            format!(
                "tests/conf/params/main.conf:{}:1",
                if n == 10 { 25 } else { 29 }
            )
        );
    }
}

#[test]
fn parameter_definitions_uses_and_conditionals() {
    // ${NAME} anywhere, $NAME before a blank or the end of the line; substitution is done at use
    // time and is recursive; a later definition replaces an earlier one.
    let (c, d) = ok(concat!(
        "$VRID=7\n$NET=192.0.2\n$HOST=${LAST}\n$LAST=5\n",
        "vrrp_instance VI_${VRID} {\n virtual_router_id $VRID\n",
        " virtual_ipaddress {\n  ${NET}.${HOST}/32\n }\n}\n",
        "$VRID=8\n$LAST=6\n",
        "vrrp_instance VI_${VRID} {\n virtual_router_id $VRID\n",
        " virtual_ipaddress {\n  ${NET}.${HOST}\n }\n}\n",
    ));
    assert_eq!(d, "");
    let v = |i: &VrrpInstance| {
        (
            i.name.clone(),
            i.vrid,
            i.vips
                .iter()
                .map(|a| a.addr.to_string())
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        v(&c.instances[0]),
        ("VI_7".into(), 7, vec!["192.0.2.5".into()])
    );
    assert_eq!(
        v(&c.instances[1]),
        ("VI_8".into(), 8, vec!["192.0.2.6".into()])
    );
    // A value may hold several words, quotes and braces; an empty value is allowed; a comment
    // ends the value; a reference inside quotes is substituted too.
    let (c, d) = ok(&format!(
        "$CMD=\"/bin/notify.sh master\" nobody # who runs it\n$NONE=\n\
         $VIPS=virtual_ipaddress {{ 192.0.2.100 }}\n$WHO=lb1\n{}",
        "vrrp_instance VI_1 {\n virtual_router_id 1 $NONE\n $VIPS\n notify_master $CMD\n \
         notify_backup \"/bin/echo ${WHO}\"\n}\n"
    ));
    assert_eq!(d, "");
    let i = &c.instances[0];
    assert_eq!(i.vips[0].addr.to_string(), "192.0.2.100");
    let m = i.notify.master.as_ref().unwrap();
    assert_eq!(
        (m.argv.as_slice(), m.user.as_ref().map(|u| u.0.as_str())),
        (
            &["/bin/notify.sh".to_string(), "master".into()][..],
            Some("nobody")
        )
    );
    assert_eq!(i.notify.backup.as_ref().unwrap().argv, ["/bin/echo", "lb1"]);
    // Substitution is bounded: a definition that refers to itself is an error, not a hang.
    let long = "x".repeat(200);
    let (c, d) = parse(&format!(
        "$A=${{A}}${{A}}{long}\nglobal_defs {{\n router_id $A\n}}\n"
    ));
    assert!(c.is_none());
    assert_eq!(
        diag_lines(&d),
        [
            "t.conf:3:2: error: parameter substitution of 'A' makes a line longer than 65536 \
          characters (does a definition refer to itself?)"
        ]
    );
    // `$IF_MAIN=@main` makes a conditional line (skipped: vrrpd has no config id); `@^ID`
    // lines, definitions included, are kept; `@ID` definitions are not made.
    let (c, d) = ok(&format!(
        "$IF_MAIN=@main\n@^backup $PRIO=120\n@backup $PRIO=90\n{}",
        inst(" priority $PRIO\n $IF_MAIN priority 240\n")
    ));
    assert_eq!(c.instances[0].priority, 120);
    assert_eq!(
        d.lines().collect::<Vec<_>>(),
        [
            "t.conf:3:1: warning: line applies only to config id 'backup'; skipped (vrrpd has no config id)",
            "t.conf:10:2: warning: line applies only to config id 'main'; skipped (vrrpd has no config id)",
        ]
    );
    // $_PWD is the directory of the file being read (keepalived's standard definition).
    let dir = std::fs::canonicalize("tests/conf").unwrap();
    let (c, d) = parse_str(
        "vrrp_script s {\n script \"${_PWD}/check.sh\"\n}\n",
        &dir.join("x.conf"),
    );
    let c = c.unwrap_or_else(|| panic!("{d}"));
    assert_eq!(
        c.scripts["s"].command.argv,
        [format!("{}/check.sh", dir.display())]
    );
    // Without any definition, '$' is plain text (existing configurations are unchanged).
    let (c, _) = ok("vrrp_script s {\n script \"/bin/sh -c 'exit $X'\"\n}\n");
    assert_eq!(c.scripts["s"].command.argv, ["/bin/sh", "-c", "exit $X"]);
    // A multi-line definition is used only at the end of a line; elsewhere it stays as written.
    let (c, d) = ok("$M= \\\n lb1 \\\n lb2\nglobal_defs {\n router_id $M x\n}\n");
    assert_eq!(c.global.router_id.as_deref(), Some("$M"));
    assert_eq!(
        d,
        "t.conf:5:15: warning: extra arguments after 'router_id' ignored: x\n"
    );
    // At the end of a line, its lines follow one another (each one a line of its own).
    let (c, d) = ok("$M= \\\n router_id lb1 \\\n router_id lb2\nglobal_defs {\n $M\n}\n");
    assert_eq!(c.global.router_id.as_deref(), Some("lb2"));
    assert_eq!(
        d,
        "t.conf:5:2: warning: 'router_id' given more than once; the last one wins\n"
    );
}

#[test]
fn nested_includes_globs_and_braces() {
    let (c, d) = load_vrrp(Path::new("tests/conf/includes/main.conf"));
    assert_eq!(
        diag_lines(&d),
        [
            "tests/conf/includes/main.conf:7:9: warning: include file 'tests/conf/includes/optional/missing.conf' not found"
        ]
    );
    let c = c.unwrap();
    assert_eq!(c.global.notification_email, ["admin@example.com"]);
    assert_eq!(c.global.smtp_server, Some(("192.0.2.25".into(), 2525)));
    assert_eq!(c.scripts.keys().collect::<Vec<_>>(), ["chk_a", "chk_b"]);
    assert_eq!(
        c.scripts["chk_b"].weight,
        Weight {
            value: -10,
            reverse: false
        }
    );
    assert_eq!(
        c.scripts["chk_b"].span.to_string(),
        "tests/conf/includes/scripts/check_b.conf:1:13"
    );
    let i = &c.instances[0];
    assert_eq!(
        i.span.to_string(),
        "tests/conf/includes/instances/vi_1.conf:1:15"
    );
    assert_eq!(i.vips[0].prefix_len, 24);
    assert_eq!(i.vips[0].label.as_deref(), Some("eth0:vip"));
    assert_eq!(
        i.vips[0].span.to_string(),
        "tests/conf/includes/instances/../vips.inc:2:5"
    );
    assert_eq!(
        i.track_script[1].weight,
        Some(Weight {
            value: 5,
            reverse: true
        })
    );
}

#[test]
fn errors_in_included_files_point_into_them() {
    let (c, d) = load_vrrp(Path::new("tests/conf/includes/bad/main.conf"));
    assert!(c.is_none());
    assert_eq!(
        diag_lines(&d),
        [
            "tests/conf/includes/bad/inner.conf:2:1: error: unknown keyword 'priorty' in vrrp_instance; did you mean 'priority'?",
            "tests/conf/includes/bad/main.conf:1:15: warning: vrrp_instance VI_1 has no virtual_ipaddress"
        ]
    );
}

#[test]
fn include_loops_are_errors() {
    let (c, d) = load_vrrp(Path::new("tests/conf/includes/loop/a.conf"));
    assert!(c.is_none());
    assert_eq!(
        diag_lines(&d),
        [
            "tests/conf/includes/loop/b.conf:1:9: error: include loop: 'tests/conf/includes/loop/a.conf' is already being read"
        ]
    );
}

#[test]
fn include_variants_and_include_check() {
    let dir = Path::new("tests/conf/includes/x.conf");
    let run = |t: &str| {
        let (c, d) = parse_str(t, dir);
        (c.is_some(), diag_lines(&d))
    };
    assert_eq!(
        run("include nothing/*.conf\n"),
        (true, vec![]),
        "plain include: an empty glob is fine"
    );
    assert_eq!(
        run("includew nothing/*.conf\n"),
        (false, vec!["tests/conf/includes/x.conf:1:10: error: includew: no file matches 'tests/conf/includes/nothing/*.conf'".to_string()])
    );
    assert_eq!(
        run("includem none.conf\n"),
        (false, vec!["tests/conf/includes/x.conf:1:10: error: includem: no file matches 'tests/conf/includes/none.conf'".to_string()])
    );
    assert_eq!(
        run("includeb scripts/{check_a,nope}.conf\n").1,
        [
            "tests/conf/includes/x.conf:1:10: error: includeb: no file matches 'tests/conf/includes/scripts/nope.conf'"
        ]
    );
    assert_eq!(
        run("includer global.d\n").1,
        [
            "tests/conf/includes/x.conf:1:10: error: includer: cannot read include file 'tests/conf/includes/global.d': Is a directory (os error 21)"
        ]
    );
    assert_eq!(
        run("global_defs {\n include_check\n}\ninclude none.conf\n").1,
        [
            "tests/conf/includes/x.conf:4:9: error: include: no file matches 'tests/conf/includes/none.conf'"
        ]
    );
    assert_eq!(
        run("global_defs {\n include_check readable -match\n}\ninclude none.conf\n").1,
        [
            "tests/conf/includes/x.conf:4:9: warning: include file 'tests/conf/includes/none.conf' not found"
        ]
    );
}

#[test]
fn include_depth_is_bounded() {
    let dir = std::env::temp_dir().join(format!("lbcore-include-depth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for n in 0..40 {
        std::fs::write(
            dir.join(format!("f{n}.conf")),
            format!("include f{}.conf\n", n + 1),
        )
        .unwrap();
    }
    std::fs::write(dir.join("f40.conf"), "").unwrap();
    let main = dir.join("f0.conf");
    let (c, d) = load_vrrp(&main);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(c.is_none());
    assert_eq!(
        diag_lines(&d),
        [format!(
            "{}: error: includes nested deeper than 32",
            dir.join("f32.conf").display().to_string() + ":1:9"
        )]
    );
}

// ---- lexical corner cases -----------------------------------------------------------------------

#[test]
fn one_line_blocks_brace_on_next_line_quotes_escapes_and_continuation() {
    let (c, d) = ok(concat!(
        "vrrp_script chk {\n",
        "  script \"/bin/echo '#not a comment' !x\"\n",
        "  weight -3 reverse\n",
        "}\n",
        "vrrp_instance VI_1\n",
        "{\n",
        "  state BACKUP ! a comment\n",
        "  virtual_router_id 9 # another\n",
        "  virtual_ipaddress { 192.0.2.1/24 brd + dev eth1 scope link label eth1:9 no_track }\n",
        "  track_script\n",
        "  {\n",
        "    chk weight 7\n",
        "  }\n",
        "  notify_master \"/usr/local/bin/notify.sh master\" nobody nogroup\n",
        "  notify \"/n.sh ' spaces\\\\x20f\\\\x69le ' end\"\n",
        "  notify_backup ab\"c d\"'e' \\\n",
        "      root\n",
        "}\n",
    ));
    assert_eq!(d, "");
    let s = &c.scripts["chk"];
    assert_eq!(s.command.argv, ["/bin/echo", "#not a comment", "!x"]);
    assert_eq!(
        s.weight,
        Weight {
            value: -3,
            reverse: true
        }
    );
    let i = &c.instances[0];
    assert_eq!(i.initial_state, Some(InitialState::Backup));
    assert_eq!(i.vrid, 9);
    let v = &i.vips[0];
    assert_eq!(
        (v.prefix_len, v.broadcast, v.dev.as_deref(), v.scope),
        (24, Broadcast::Auto, Some("eth1"), Scope::Link)
    );
    assert_eq!((v.label.as_deref(), v.no_track), (Some("eth1:9"), true));
    assert_eq!(
        i.track_script[0].weight,
        Some(Weight {
            value: 7,
            reverse: false
        })
    );
    let m = i.notify.master.as_ref().unwrap();
    assert_eq!(m.argv, ["/usr/local/bin/notify.sh", "master"]);
    assert_eq!(m.user, Some(("nobody".into(), Some("nogroup".into()))));
    assert_eq!(
        i.notify.generic.as_ref().unwrap().argv,
        ["/n.sh", " spaces file ", "end"]
    );
    let b = i.notify.backup.as_ref().unwrap();
    assert_eq!(b.argv, ["abc", "de"]);
    assert_eq!(b.user, Some(("root".into(), None)));
}

#[test]
fn a_line_is_one_statement_even_inside_a_one_line_block() {
    // keepalived splits lines only at braces: `script X weight -10` on one line gives the script
    // a user "weight" and a group "-10", exactly as here; we say so.
    let (c, d) = ok("vrrp_script s { script /bin/false weight -10 }\n");
    assert_eq!(
        c.scripts["s"].command.user,
        Some(("weight".into(), Some("-10".into())))
    );
    assert_eq!(
        d,
        "t.conf:1:35: warning: 'weight' after the command is read as a user name, as keepalived does; \
         put 'weight' on a line of its own\n"
    );
}

#[test]
fn did_you_mean_hints_per_block() {
    let (_, d) = parse(concat!(
        "global_defs { notification_emial { a@b } }\n",
        "vrrp_instnce X { }\n",
        "vrrp_script s { scirpt /bin/true }\n",
        "vrrp_instance VI_1 { virtual_router_id 1\n virtual_ipaddress { 192.0.2.1 }\n advert_intt 1\n zzzzzzzz }\n",
    ));
    assert_eq!(
        diag_lines(&d),
        [
            "t.conf:1:15: error: unknown keyword 'notification_emial' in global_defs; did you mean 'notification_email'?",
            "t.conf:2:1: error: unknown keyword 'vrrp_instnce' in the top level; did you mean 'vrrp_instance'?",
            "t.conf:3:17: error: unknown keyword 'scirpt' in vrrp_script; did you mean 'script'?",
            "t.conf:6:2: error: unknown keyword 'advert_intt' in vrrp_instance; did you mean 'advert_int'?",
            "t.conf:7:2: error: unknown keyword 'zzzzzzzz' in vrrp_instance",
            "t.conf:3:13: warning: vrrp_script 's' has no script; it is removed",
        ]
    );
}

#[test]
fn unsupported_keepalived_keywords_warn_and_skip_their_block() {
    let (c, d) = ok(&[
        "global_defs {\n enable_snmp_vrrp\n lvs_flush\n enable_dbus\n}\n",
        "bfd_instance b1 {\n neighbor_ip 192.0.2.9\n}\n",
        "virtual_server 192.0.2.100 443 {\n real_server 192.0.2.21 443 {\n  TCP_CHECK { connect_timeout 3 }\n }\n}\n",
        "virtual_server_group G { 192.0.2.100 443 }\n",
        &inst(" use_vmac_addr\n track_bfd {\n  b1\n }\n"),
    ]
    .concat());
    assert_eq!(c.instances.len(), 1);
    assert_eq!(
        d,
        "t.conf:2:2: warning: keepalived keyword 'enable_snmp_vrrp' (SNMP) is not supported by vrrpd and is ignored\n\
         t.conf:3:2: warning: keepalived keyword 'lvs_flush' (LVS / checkers) is not supported by vrrpd and is ignored\n\
         t.conf:4:2: warning: keepalived keyword 'enable_dbus' (DBus) is not supported by vrrpd and is ignored\n\
         t.conf:6:1: warning: keepalived keyword 'bfd_instance' (BFD) is not supported by vrrpd and is ignored; its block is skipped\n\
         t.conf:9:1: warning: keepalived keyword 'virtual_server' (LVS / checkers) is not supported by vrrpd and is ignored; its block is skipped\n\
         t.conf:14:1: warning: keepalived keyword 'virtual_server_group' (LVS / checkers) is not supported by vrrpd and is ignored; its block is skipped\n\
         t.conf:20:2: warning: keepalived keyword 'use_vmac_addr' is not supported by vrrpd and is ignored\n\
         t.conf:21:2: warning: keepalived keyword 'track_bfd' (BFD) is not supported by vrrpd and is ignored; its block is skipped\n"
    );
}

// ---- keepalived's defaults and clearing rules ---------------------------------------------------

#[test]
fn defaults_and_keepalived_clearing_rules() {
    // No priority + state MASTER ⇒ 255; nopreempt / preempt_delay cleared with MASTER.
    let (c, d) = ok(&inst(" state MASTER\n nopreempt\n preempt_delay 10\n"));
    let i = &c.instances[0];
    assert_eq!(
        (i.priority, i.preempt, i.preempt_delay),
        (255, true, Duration::ZERO)
    );
    assert_eq!(
        d,
        "t.conf:7:2: warning: vrrp_instance VI_1: nopreempt does not work with state MASTER; clearing it\n\
         t.conf:8:16: warning: vrrp_instance VI_1: preempt_delay does not work with state MASTER; clearing it\n"
    );
    // Default priority 100, nopreempt kept for BACKUP, interface from default_interface.
    let (c, d) = ok(&format!(
        "global_defs {{ default_interface bond0 }}\n{}",
        inst(" nopreempt\n preempt_delay 2.5\n")
    ));
    let i = &c.instances[0];
    assert_eq!(d, "");
    assert_eq!(
        (i.priority, i.preempt, i.preempt_delay, i.interface.as_str()),
        (100, false, Duration::from_millis(2500), "bond0")
    );
    assert_eq!(i.initial_state, None);
}

#[test]
fn advert_int_rounding_per_version() {
    let (c, d) = ok(&inst(" advert_int 1.5\n"));
    assert_eq!(c.instances[0].advert_int, Duration::from_secs(2));
    assert_eq!(
        d,
        "t.conf:6:13: warning: vrrp_instance VI_1: VRRPv2 advertisement interval 1.5s must be an integer; rounding to 2s\n"
    );
    let (c, d) = ok(&inst(" version 3\n advert_int 0.123\n"));
    assert_eq!(c.instances[0].advert_int, Duration::from_millis(120));
    assert_eq!(
        d,
        "t.conf:7:13: warning: vrrp_instance VI_1: VRRPv3 advertisement interval 0.123s must be in units of 10ms; rounding to 0.12s\n"
    );
    let (c, _) = ok(&inst(" version 3\n advert_int 0.05\n"));
    assert_eq!(c.instances[0].advert_int, Duration::from_millis(50));
}

#[test]
fn ipv6_forces_version_3_and_drops_authentication() {
    let (c, d) = ok(concat!(
        "vrrp_instance V6 {\n virtual_router_id 5\n version 2\n",
        " authentication {\n  auth_type PASS\n  auth_pass 123456789\n }\n",
        " virtual_ipaddress {\n  2001:db8::1/64\n  fe80::1 preferred_lft forever\n }\n}\n",
    ));
    let i = &c.instances[0];
    assert_eq!(
        (i.version, i.ipv6, i.auth),
        (Version::V3, true, AuthData::None)
    );
    assert_eq!(
        (
            i.vips[0].prefix_len,
            i.vips[1].prefix_len,
            i.vips[1].preferred_forever
        ),
        (64, 128, true)
    );
    assert_eq!(
        d,
        "t.conf:3:10: warning: vrrp_instance V6 has IPv6 addresses, which need VRRP version 3; ignoring version 2\n\
         t.conf:9:3: warning: vrrp_instance V6: the first IPv6 virtual_ipaddress should be link-local (RFC 5798 §5.2.9) but 2001:db8::1 is not in fe80::/10; list a link-local virtual address (e.g. fe80::1) first, the same on every router of VRID 5\n\
         t.conf:4:2: warning: VRRP version 3 does not support authentication. Ignoring\n"
    );
}

#[test]
fn ipv6_first_virtual_address_should_be_link_local() {
    let v6 = |global: &str, body: &str| {
        parse(&format!(
            "{global}vrrp_instance V6 {{\n virtual_router_id 7\n virtual_ipaddress {{\n{body} }}\n}}\n"
        ))
    };
    // RFC 5798 §5.2.9 (keepalived: "should be link local"): a warning at the first address.
    let (c, d) = v6("", "  2001:db8::100/64\n  fe80::1/64\n");
    assert!(c.is_some(), "{d}");
    assert_eq!(
        diag_lines(&d),
        [
            "t.conf:4:3: warning: vrrp_instance V6: the first IPv6 virtual_ipaddress should be link-local \
          (RFC 5798 §5.2.9) but 2001:db8::100 is not in fe80::/10; list a link-local virtual address \
          (e.g. fe80::1) first, the same on every router of VRID 7"
        ]
    );
    // Link-local first (anywhere in fe80::/10), then global addresses: nothing to say.
    for first in ["fe80::1/64", "fe80::1", "febf:ffff::1"] {
        let (c, d) = v6("", &format!("  {first}\n  2001:db8::100/64\n"));
        assert!(c.is_some() && d.is_empty(), "{first}: {d}");
    }
    // fec0::/10 (old site-local) is not link-local.
    let (_, d) = v6("", "  fec0::1\n");
    assert_eq!(d.warning_count(), 1, "{d}");
    // Strict mode (global or per instance): an error, with "must".
    let (c, d) = v6("global_defs {\n vrrp_strict\n}\n", "  2001:db8::100\n");
    assert!(c.is_none());
    assert_eq!(
        diag_lines(&d),
        [
            "t.conf:7:3: error: vrrp_instance V6: the first IPv6 virtual_ipaddress must be link-local \
          (RFC 5798 §5.2.9) but 2001:db8::100 is not in fe80::/10; list a link-local virtual address \
          (e.g. fe80::1) first, the same on every router of VRID 7"
        ]
    );
    let (c, d) = parse(
        "vrrp_instance V6 {\n strict_mode on\n virtual_router_id 7\n virtual_ipaddress {\n  2001:db8::100\n }\n}\n",
    );
    assert!(c.is_none() && d.error_count() == 1, "{d}");
    // keepalived checks multicast instances only: unicast peers are addressed directly.
    let (c, d) = v6(
        "",
        "  2001:db8::100\n }\n unicast_src_ip 2001:db8::11\n unicast_peer {\n  2001:db8::12\n",
    );
    assert!(c.is_some() && d.is_empty(), "{d}");
    // Excluded addresses are not advertised, IPv4 instances have no such rule.
    let (c, d) = parse(&inst(
        " virtual_ipaddress_excluded {\n  2001:db8::100\n }\n",
    ));
    assert!(c.is_some() && d.is_empty(), "{d}");
}

#[test]
fn global_settings_flow_into_instances() {
    let (c, d) = ok(&format!(
        "global_defs {{\n vrrp_version 3\n v3_checksum_as_v2\n vrrp_skip_check_adv_addr\n \
         vrrp_garp_master_repeat 2\n vrrp_garp_master_delay 1\n vrrp_min_garp\n \
         vrrp_down_timer_adverts 4\n vrrp_lower_prio_no_advert on\n smtp_alert true\n smtp_server mail.example.com\n \
         notification_email {{ a@example.com b@example.com }}\n vrrp_garp_extra_if all 100\n}}\n{}",
        inst(" garp_master_repeat 3\n unicast_peer {\n  192.0.2.12 min_ttl 250 max_ttl 255\n }\n"),
    ));
    assert_eq!(d, "");
    assert_eq!(c.global.extra["vrrp_garp_extra_if"], ["all", "100"]);
    let i = &c.instances[0];
    assert_eq!(i.version, Version::V3);
    assert_eq!(i.v3_ipv4_checksum, V3Ipv4Checksum::WithoutPseudoHeader);
    assert_eq!(i.addr_list_policy, AddrListPolicy::Log);
    assert_eq!(
        (i.garp.master_repeat, i.garp.master_delay),
        (3, Duration::from_secs(1))
    );
    assert_eq!(
        (i.down_timer_adverts, i.lower_prio_no_advert, i.smtp_alert),
        (4, true, true)
    );
    assert_eq!(
        i.unicast_peers,
        [UnicastPeer {
            addr: "192.0.2.12".parse().unwrap(),
            min_ttl: Some(250),
            max_ttl: Some(255)
        }]
    );
    assert!(
        i.check_unicast_src,
        "min_ttl/max_ttl turn on check_unicast_src"
    );
    // Instance-level overrides of the global flags.
    let (c, _) = ok(&format!(
        "global_defs {{ v3_checksum_as_v2\n vrrp_skip_check_adv_addr }}\n{}",
        inst(" v3_checksum_as_v2 off\n skip_check_adv_addr no\n"),
    ));
    let i = &c.instances[0];
    assert_eq!(
        (i.v3_ipv4_checksum, i.addr_list_policy),
        (V3Ipv4Checksum::WithPseudoHeader, AddrListPolicy::Drop)
    );
}

#[test]
fn higher_prio_send_advert_global_instance_and_strict_mode() {
    let hp = |text: &str| -> (bool, String) {
        let (c, d) = ok(text);
        (c.instances[0].higher_prio_send_advert, d)
    };
    // On by default (vrrpd's split-brain hygiene; keepalived's default is off), globally and in
    // instances; the bare keyword and an explicit true mean the same.
    assert_eq!(hp(&inst("")), (true, String::new()));
    let (c, _) = ok(&inst(""));
    assert!(c.global.higher_prio_send_advert);
    assert!(VrrpConfig::default().global.higher_prio_send_advert);
    for on in ["", " on", " true", " yes"] {
        assert_eq!(
            hp(&format!(
                "global_defs {{ vrrp_higher_prio_send_advert{on} }}\n{}",
                inst("")
            )),
            (true, String::new())
        );
    }
    // keepalived's optional <BOOL> turns it off, globally or per instance; an instance setting
    // wins over the global one either way.
    for off in ["off", "false", "no"] {
        assert_eq!(
            hp(&format!(
                "global_defs {{ vrrp_higher_prio_send_advert {off} }}\n{}",
                inst("")
            )),
            (false, String::new())
        );
        assert_eq!(
            hp(&inst(&format!(" higher_prio_send_advert {off}\n"))),
            (false, String::new())
        );
    }
    let (c, _) = ok(&format!(
        "global_defs {{ vrrp_higher_prio_send_advert false }}\n{}",
        inst("")
    ));
    assert!(!c.global.higher_prio_send_advert);
    assert_eq!(
        hp(&format!(
            "global_defs {{ vrrp_higher_prio_send_advert off }}\n{}",
            inst(" higher_prio_send_advert\n")
        )),
        (true, String::new())
    );
    assert_eq!(
        hp(&format!(
            "global_defs {{ vrrp_higher_prio_send_advert }}\n{}",
            inst(" higher_prio_send_advert off\n")
        )),
        (false, String::new())
    );
    // keepalived: strict mode clears it, the default and the inherited global silently...
    assert_eq!(
        hp(&format!("global_defs {{ vrrp_strict }}\n{}", inst(""))),
        (false, String::new())
    );
    assert_eq!(hp(&inst(" strict_mode\n")), (false, String::new()));
    assert_eq!(
        hp(&format!(
            "global_defs {{ vrrp_strict\n vrrp_higher_prio_send_advert }}\n{}",
            inst("")
        )),
        (false, String::new())
    );
    // ...and an explicit instance setting with a warning at its value.
    assert_eq!(
        hp(&inst(" strict_mode\n higher_prio_send_advert on\n")),
        (
            false,
            "t.conf:7:26: warning: vrrp_instance VI_1: strict mode requires higher_prio_send_advert to be clear; clearing it\n"
                .to_owned()
        )
    );
}

#[test]
fn warnings_keepalived_also_gives() {
    let (c, d) = ok(&inst(
        " smtp_alert\n authentication {\n  auth_type AH\n }\n state MASTER\n priority 100\n",
    ));
    assert_eq!(c.instances[0].auth, AuthData::Ah);
    assert_eq!(c.instances[0].initial_state, Some(InitialState::Backup));
    assert_eq!(
        d,
        "t.conf:8:13: warning: vrrp_instance VI_1: initial state MASTER is incompatible with AH authentication; clearing it\n\
         t.conf:6:2: warning: smtp_alert is set but global_defs has no smtp_server: no mail will be sent\n"
    );
    let (_, d) = ok(&format!(
        "global_defs {{ smtp_server 192.0.2.25 }}\n{}",
        inst(" smtp_alert\n")
    ));
    assert_eq!(
        d,
        "t.conf:7:2: warning: smtp_alert is set but global_defs has no notification_email: no mail will be sent\n"
    );
    let (_, d) = ok("vrrp_instance VI_1 {\n virtual_router_id 3\n}\n");
    assert_eq!(
        d,
        "t.conf:1:15: warning: vrrp_instance VI_1 has no virtual_ipaddress\n"
    );
    let (_, d) = ok(&inst(" priority 50\n priority 60\n"));
    assert_eq!(
        d,
        "t.conf:7:2: warning: 'priority' given more than once; the last one wins\n"
    );
    let (c, d) = ok("vrrp_script s {\n script killall -0 haproxy\n}\n");
    assert_eq!(
        c.scripts["s"].command.user,
        Some(("-0".into(), Some("haproxy".into())))
    );
    assert_eq!(
        d,
        "t.conf:2:17: warning: '-0 haproxy' after the command is read as user and group, as keepalived does; quote the whole command line\n"
    );
    let (_, d) = ok(&inst(" priority 100 extra\n"));
    assert_eq!(
        d,
        "t.conf:6:15: warning: extra arguments after 'priority' ignored: extra\n"
    );
    let (c, d) = ok(&format!(
        "vrrp_sync_group G {{ group {{ VI_1 }} global_tracking }}\n{}",
        inst("")
    ));
    assert!(c.sync_groups[0].tracking_weight);
    assert_eq!(
        d,
        "t.conf:1:36: warning: global_tracking is deprecated; treated as sync_group_tracking_weight (use track_* on the sync group instead)\n\
         t.conf:1:17: warning: vrrp_sync_group G has only 1 instance, which is probably not what you want\n"
    );
}

/// What keepalived 2.2.7 corrects with a message and runs (checked with `keepalived -t` in a
/// namespace: "setting to 1", "Setting to 40.95s", "ignoring" an address) is a warning here too,
/// with keepalived's correction applied.
#[test]
fn keepalived_corrections_are_warnings_with_the_same_correction() {
    let (c, d) = ok(&format!(
        "global_defs {{\n vrrp_garp_master_repeat 0\n vrrp_garp_master_refresh_repeat 0\n \
         smtp_connect_timeout 0\n}}\n\
         vrrp_script s {{\n script /bin/true\n interval 0\n timeout 0\n rise 0\n fall 0\n}}\n{}",
        inst(
            " version 3\n advert_int 41\n garp_master_repeat 0\n garp_lower_prio_repeat 0\n \
             track_script {\n  s weight 254\n }\n track_interface {\n  eth1 weight -254\n }\n"
        )
    ));
    assert_eq!(
        d.lines().collect::<Vec<_>>(),
        [
            "t.conf:4:23: warning: smtp_connect_timeout must be greater than 0; setting it to 1 second, as keepalived does",
            "t.conf:2:26: warning: vrrp_garp_master_repeat must be greater than 0; setting it to 1, as keepalived does",
            "t.conf:3:34: warning: vrrp_garp_master_refresh_repeat must be greater than 0; setting it to 1, as keepalived does",
            "t.conf:8:11: warning: interval must be greater than 0; setting it to 1 second, as keepalived does",
            "t.conf:9:10: warning: timeout must be greater than 0; setting it to 1 second, as keepalived does",
            "t.conf:10:7: warning: rise must be greater than 0; setting it to 1, as keepalived does",
            "t.conf:11:7: warning: fall must be greater than 0; setting it to 1, as keepalived does",
            "t.conf:19:13: warning: vrrp_instance VI_1: VRRPv3 advertisement interval 41s is out of range (at most 40.95s); setting it to 40.95s, as keepalived does",
            "t.conf:23:12: warning: vrrp_instance VI_1: track_script weight 254 for 's' is out of range; setting it to 253, as keepalived does",
            "t.conf:26:15: warning: vrrp_instance VI_1: track_interface weight -254 for 'eth1' is out of range; setting it to -253, as keepalived does",
            "t.conf:20:21: warning: garp_master_repeat must be greater than 0; setting it to 1, as keepalived does",
        ]
    );
    let g = &c.global;
    assert_eq!(
        (
            g.garp.master_repeat,
            g.garp.master_refresh_repeat,
            g.smtp_connect_timeout
        ),
        (1, 1, Duration::from_secs(1))
    );
    let s = &c.scripts["s"];
    assert_eq!(
        (s.interval, s.timeout, s.rise, s.fall),
        (Duration::from_secs(1), Duration::from_secs(1), 1, 1)
    );
    let i = &c.instances[0];
    assert_eq!(i.advert_int, Duration::from_millis(40_950));
    assert_eq!(i.garp.master_repeat, 1);
    // keepalived takes 0 here silently: no announcements on hearing a lower-priority advert.
    assert_eq!(i.garp.lower_prio_repeat, Some(0));
    assert_eq!(i.track_script[0].weight.map(|w| w.value), Some(253));
    assert_eq!(i.track_interface[0].weight.map(|w| w.value), Some(-253));

    // An address of the other family is left out of virtual_ipaddress, keepalived's
    // "address family must match VRRP instance [2001:db8::3] - ignoring".
    let (c, d) = ok(
        "vrrp_instance VI_1 {\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.3\n  2001:db8::3\n  192.0.2.4\n }\n}\n",
    );
    assert_eq!(
        d.lines().collect::<Vec<_>>(),
        [
            "t.conf:5:3: warning: virtual_ipaddress: 2001:db8::3 is IPv6 but the first address of vrrp_instance VI_1 is IPv4 (all VIPs of an instance must be one family; use virtual_ipaddress_excluded to mix); ignoring it, as keepalived does"
        ]
    );
    let i = &c.instances[0];
    assert!(!i.ipv6);
    assert_eq!(
        i.vips
            .iter()
            .map(|a| a.addr.to_string())
            .collect::<Vec<_>>(),
        ["192.0.2.3", "192.0.2.4"]
    );
}

/// `track_file` blocks and references, and the keepalived keywords that are kept for a later
/// issue or warned about as having no effect: none is dropped silently.
#[test]
fn track_files_and_other_keepalived_keywords_are_kept_or_warned_about() {
    let (c, d) = ok(concat!(
        "net_namespace blue\ninstance lb1\nuse_pid_dir\n",
        "global_defs {\n vrrp_rt_priority 50\n vrrp_no_swap\n max_auto_priority\n vrrp_priority -10\n",
        " vrrp_delay_after_boot 1.5\n dynamic_interfaces\n state_dump_file /tmp/s.data\n",
        " stats_dump_file /tmp/t.data\n json_dump_file /tmp/j.json\n data_use_instance off\n}\n",
        "track_file tf {\n file \"/run/t f\"\n weight -3 reverse\n init_file 7\n}\n",
        "vrrp_track_file old {\n file /run/old\n init_file overwrite\n}\n",
        "track_file nofile {\n weight 2\n}\n",
        "vrrp_instance VI_1 {\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1\n }\n",
        " track_file {\n  tf\n  old weight -254 reverse\n  nofile\n }\n old_unicast_checksum\n",
        " use_ipvlan ipvl0 192.0.2.9/24 private\n}\n",
        "vrrp_instance VI_2 {\n virtual_router_id 2\n virtual_ipaddress {\n  192.0.2.2\n }\n",
        " old_unicast_checksum never\n}\n",
        "vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n track_file {\n  tf weight 0\n }\n}\n",
    ));
    let why = "has no effect in vrrpd and is ignored: it tunes the scheduling of keepalived's \
               single-threaded VRRP process, where one event loop runs every instance's timers, the \
               scripts and netlink; vrrpd is not a single-threaded scheduler (each instance runs on \
               its own task of a multi-threaded runtime); set CPU priority, affinity or memory \
               locking in the service unit instead";
    assert_eq!(
        d.lines().collect::<Vec<_>>(),
        [
            format!("t.conf:5:2: warning: 'vrrp_rt_priority' {why}"),
            format!("t.conf:6:2: warning: 'vrrp_no_swap' {why}"),
            format!("t.conf:7:2: warning: 'max_auto_priority' {why}"),
            format!("t.conf:8:2: warning: 'vrrp_priority' {why}"),
            "t.conf:1:15: warning: net_namespace 'blue' is not entered by vrrpd: it runs in the \
             network namespace it is started in; start it there (ip netns exec blue vrrpd ...)"
                .to_string(),
            "t.conf:25:12: warning: track_file 'nofile' has no file; it is removed".to_string(),
            "t.conf:36:3: warning: vrrp_instance VI_1: track_file 'nofile' was removed; ignoring it"
                .to_string(),
        ]
    );
    let g = &c.global;
    assert_eq!(g.net_namespace.as_deref(), Some("blue"));
    assert_eq!(g.instance_name.as_deref(), Some("lb1"));
    assert!(g.use_pid_dir && !g.data_use_instance);
    assert_eq!(g.delay_after_boot, Some(Duration::from_millis(1500)));
    assert_eq!(g.dynamic_interfaces, DynamicInterfaces::On);
    assert_eq!(
        [&g.state_dump_file, &g.stats_dump_file, &g.json_dump_file]
            .map(|p| p.as_ref().and_then(|p| p.to_str())),
        [
            Some("/tmp/s.data"),
            Some("/tmp/t.data"),
            Some("/tmp/j.json")
        ]
    );
    assert_eq!(
        c.track_files.keys().collect::<Vec<_>>(),
        ["old", "tf"],
        "the file-less one is removed"
    );
    let tf = &c.track_files["tf"];
    assert_eq!(tf.file, Path::new("/run/t f"));
    assert_eq!(
        tf.weight,
        Weight {
            value: -3,
            reverse: true
        }
    );
    assert_eq!(
        tf.init_file,
        Some(InitFile {
            value: 7,
            overwrite: false
        })
    );
    assert_eq!(tf.span.to_string(), "t.conf:16:12");
    let old = &c.track_files["old"];
    assert_eq!(old.weight.value, 1, "keepalived's default weight");
    assert_eq!(
        old.init_file,
        Some(InitFile {
            value: 0,
            overwrite: true
        })
    );
    let i = &c.instances[0];
    assert_eq!(
        i.track_file
            .iter()
            .map(|r| (r.name.as_str(), r.weight))
            .collect::<Vec<_>>(),
        [
            ("tf", None),
            (
                "old",
                Some(Weight {
                    value: -254,
                    reverse: true
                })
            )
        ]
    );
    assert_eq!(i.old_unicast_checksum, OldUnicastChecksum::Always);
    assert_eq!(
        i.use_ipvlan.as_deref(),
        Some(&["ipvl0".to_string(), "192.0.2.9/24".into(), "private".into()][..])
    );
    assert_eq!(
        c.instances[1].old_unicast_checksum,
        OldUnicastChecksum::Never
    );
    assert_eq!(c.instances[1].use_ipvlan, None);
    let gr = &c.sync_groups[0].track_file;
    assert_eq!(
        (gr[0].name.as_str(), gr[0].weight.map(|w| w.value)),
        ("tf", Some(0))
    );

    // The same keywords in global_defs; without any of them, keepalived's defaults.
    let (c, d) = ok(&format!(
        "global_defs {{\n instance lb2\n use_pid_dir\n dynamic_interfaces allow_if_changes\n \
         data_use_instance\n}}\n{}",
        inst("")
    ));
    assert_eq!(d, "");
    assert_eq!(c.global.instance_name.as_deref(), Some("lb2"));
    assert!(c.global.use_pid_dir && c.global.data_use_instance);
    assert_eq!(
        c.global.dynamic_interfaces,
        DynamicInterfaces::AllowIfChanges
    );
    let (c, _) = ok(&inst(""));
    let g = &c.global;
    assert_eq!(
        (
            &g.net_namespace,
            &g.instance_name,
            g.use_pid_dir,
            g.delay_after_boot,
            g.dynamic_interfaces
        ),
        (&None, &None, false, None, DynamicInterfaces::Off)
    );
    assert_eq!(
        c.instances[0].old_unicast_checksum,
        OldUnicastChecksum::Detect
    );
    assert!(c.track_files.is_empty() && c.instances[0].track_file.is_empty());
}

#[test]
fn everything_else_in_the_model() {
    let (c, d) = ok(concat!(
        "global_defs {\n router_id lb1\n smtp_helo_name lb1.example.com\n script_user nobody:nogroup\n",
        " enable_script_security\n vrrp_strict\n vrrp_mcast_group4 224.0.0.19\n vrrp_mcast_group6 ff02::13\n",
        " vrrp_garp_interval 0.001\n vrrp_gna_interval 0.002\n vrrp_higher_prio_send_advert\n vrrp_check_unicast_src\n",
        " vrrp_startup_delay 5.5\n notify_fifo /run/k.fifo root\n vrrp_notify_fifo /run/v.fifo\n",
        " vrrp_notify_fifo_script \"/bin/reader -x\"\n vrrp_notify_priority_changes\n no_email_faults\n}\n",
        "vrrp_track_process haproxy {\n process haproxy -f /etc/haproxy.cfg\n param_match partial\n full_command\n",
        " weight -20 reverse\n quorum 2\n quorum_max 4\n delay 1.5\n fork_delay 2\n terminate_delay 0.5\n}\n",
        "vrrp_script s {\n script /bin/true\n interval 0.5\n timeout 3\n rise 2\n fall 3\n user nobody\n init_fail\n}\n",
        "vrrp_instance A {\n interface eth1\n virtual_router_id 10\n priority 200\n",
        " virtual_ipaddress {\n  192.0.2.10/24 brd 192.0.2.255 peer 192.0.2.99 home -nodad noprefixroute scope host\n }\n",
        " virtual_ipaddress_excluded {\n  2001:db8::10/64 dev eth2\n  198.51.100.1\n }\n",
        " virtual_routes {\n  192.0.2.0/24 via 192.0.2.1 dev eth1\n }\n virtual_rules {\n  from 192.0.2.0/24 table 1\n }\n",
        " track_interface {\n  eth2 weight -30\n  eth3\n }\n track_process {\n  haproxy weight 10\n }\n",
        " dont_track_primary\n unicast_src_ip 192.0.2.11\n track_src_ip\n unicast_ttl 64\n unicast_fault_no_peer\n",
        " no_accept\n garp_master_refresh 60\n garp_master_refresh_repeat 2\n garp_lower_prio_delay 3\n garp_lower_prio_repeat 4\n",
        " higher_prio_send_advert off\n down_timer_adverts 5\n strict_mode off\n owner_ignore_adverts\n promote_secondaries\n",
        " kernel_rx_buf_size 65536\n use_vmac vrrp.10\n vmac_xmit_base\n notify_fault /bin/f\n notify_stop /bin/s\n",
        " notify_deleted\n notify_master_rx_lower_pri /bin/r\n notify_priority_changes\n}\n",
        "vrrp_instance B {\n interface eth1\n virtual_router_id 11\n virtual_ipaddress {\n  192.0.2.20\n }\n}\n",
        "vrrp_sync_group G {\n group {\n  A\n  B\n }\n track_script {\n  s weight 4\n }\n track_interface {\n  eth5\n }\n",
        " track_process {\n  haproxy\n }\n notify_master \"/bin/g master\"\n notify_backup /bin/gb\n notify_fault /bin/gf\n",
        " notify_stop /bin/gs\n notify /bin/gn\n smtp_alert off\n sync_group_tracking_weight\n notify_priority_changes no\n}\n",
    ));
    assert_eq!(d, "");
    let g = &c.global;
    assert_eq!(g.router_id.as_deref(), Some("lb1"));
    assert_eq!(g.smtp_helo_name.as_deref(), Some("lb1.example.com"));
    assert_eq!(
        g.script_user,
        Some(("nobody".into(), Some("nogroup".into())))
    );
    assert!(g.enable_script_security && g.vrrp_strict && g.no_email_faults);
    assert_eq!(g.mcast_group4, Ipv4Addr::new(224, 0, 0, 19));
    assert_eq!(
        g.mcast_group6,
        "ff02::13".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(
        (g.garp_interval, g.gna_interval),
        (Duration::from_millis(1), Duration::from_millis(2))
    );
    assert!(g.higher_prio_send_advert && g.check_unicast_src && g.notify_priority_changes);
    assert!(
        g.lower_prio_no_advert,
        "strict mode implies vrrp_lower_prio_no_advert"
    );
    assert_eq!(g.startup_delay, Duration::from_millis(5500));
    assert_eq!(
        g.notify_fifo,
        Some(NotifyFifo {
            path: "/run/k.fifo".into(),
            owner: Some(("root".into(), None))
        })
    );
    assert_eq!(
        g.vrrp_notify_fifo,
        Some(NotifyFifo {
            path: "/run/v.fifo".into(),
            owner: None
        })
    );
    assert_eq!(
        g.vrrp_notify_fifo_script.as_ref().unwrap().argv,
        ["/bin/reader", "-x"]
    );

    let p = &c.track_processes["haproxy"];
    assert_eq!(p.process, ["haproxy", "-f", "/etc/haproxy.cfg"]);
    assert_eq!(
        (p.param_match.as_deref(), p.full_command),
        (Some("partial"), true)
    );
    assert_eq!(
        p.weight,
        Weight {
            value: -20,
            reverse: true
        }
    );
    assert_eq!((p.quorum, p.quorum_max), (2, Some(4)));
    assert_eq!(
        (p.delay, p.fork_delay, p.terminate_delay),
        (
            Duration::from_millis(1500),
            Some(Duration::from_secs(2)),
            Some(Duration::from_millis(500))
        )
    );

    let s = &c.scripts["s"];
    assert_eq!(
        (s.interval, s.timeout, s.rise, s.fall),
        (Duration::from_millis(500), Duration::from_secs(3), 2, 3)
    );
    assert_eq!(
        (s.user.clone(), s.init_fail),
        (Some(("nobody".into(), None)), true)
    );

    let a = &c.instances[0];
    assert_eq!(
        (a.interface.as_str(), a.priority, a.strict),
        ("eth1", 200, false)
    );
    let v = &a.vips[0];
    assert_eq!(v.broadcast, Broadcast::Addr(Ipv4Addr::new(192, 0, 2, 255)));
    assert_eq!(v.peer, Some("192.0.2.99".parse().unwrap()));
    assert_eq!(v.options, ["home", "-nodad", "noprefixroute"]);
    assert_eq!(v.scope, Scope::Host);
    assert_eq!(
        a.excluded_vips.len(),
        2,
        "excluded addresses may mix families"
    );
    assert_eq!(a.excluded_vips[0].dev.as_deref(), Some("eth2"));
    assert_eq!(a.virtual_routes, ["192.0.2.0/24 via 192.0.2.1 dev eth1"]);
    assert_eq!(a.virtual_rules, ["from 192.0.2.0/24 table 1"]);
    assert_eq!(
        a.track_interface[0].weight,
        Some(Weight {
            value: -30,
            reverse: false
        })
    );
    assert_eq!(a.track_interface[1].weight, None);
    assert_eq!(
        a.track_process[0].weight,
        Some(Weight {
            value: 10,
            reverse: false
        })
    );
    assert!(a.dont_track_primary && a.track_src_ip && a.unicast_fault_no_peer);
    assert_eq!(
        (a.src_ip, a.unicast_ttl),
        (Some("192.0.2.11".parse().unwrap()), Some(64))
    );
    assert!(!a.accept);
    assert_eq!(a.garp.master_refresh, Duration::from_secs(60));
    assert_eq!(
        (
            a.garp.master_refresh_repeat,
            a.garp.lower_prio_delay,
            a.garp.lower_prio_repeat
        ),
        (2, Some(Duration::from_secs(3)), Some(4))
    );
    assert!(!a.higher_prio_send_advert);
    assert!(a.lower_prio_no_advert, "inherits the global setting");
    assert_eq!(a.down_timer_adverts, 5);
    assert!(
        a.owner_ignore_adverts
            && a.promote_secondaries
            && a.vmac_xmit_base
            && a.notify_priority_changes
    );
    assert_eq!(
        (a.kernel_rx_buf_size, a.use_vmac.clone()),
        (Some(65536), Some(vec!["vrrp.10".to_string()]))
    );
    assert_eq!(a.notify.fault.as_ref().unwrap().argv, ["/bin/f"]);
    assert_eq!(a.notify.stop.as_ref().unwrap().argv, ["/bin/s"]);
    assert_eq!(
        a.notify.master_rx_lower_pri.as_ref().unwrap().argv,
        ["/bin/r"]
    );
    assert!(a.notify.send_deleted && a.notify.deleted.is_none());
    assert!(c.instances[1].strict, "B inherits vrrp_strict");
    assert!(!c.instances[1].accept, "strict mode implies no_accept");

    let sg = &c.sync_groups[0];
    assert_eq!(sg.members, ["A", "B"]);
    assert_eq!(
        sg.track_script[0].weight,
        Some(Weight {
            value: 4,
            reverse: false
        })
    );
    assert_eq!(
        (
            sg.track_interface[0].name.as_str(),
            sg.track_process[0].name.as_str()
        ),
        ("eth5", "haproxy")
    );
    assert_eq!(
        sg.notify.master.as_ref().unwrap().argv,
        ["/bin/g", "master"]
    );
    assert!(
        sg.notify.backup.is_some()
            && sg.notify.fault.is_some()
            && sg.notify.stop.is_some()
            && sg.notify.generic.is_some()
    );
    assert!(!sg.smtp_alert && sg.tracking_weight && !sg.notify_priority_changes);
}

// ---- every error path, with its exact line ------------------------------------------------------

/// (configuration, the exact error line it must produce).
const ERRORS: &[(&str, &str)] = &[
    // lexer
    (
        "vrrp_script s { script \"abc }\n",
        "t.conf:1:24: error: unterminated quote (\")",
    ),
    (
        "include\n",
        "t.conf:1:1: error: 'include' needs a file name",
    ),
    (
        "include [\n",
        "t.conf:1:9: error: bad include pattern '[': Pattern syntax error near position 0: invalid range pattern",
    ),
    (
        "global_defs {\n include_check sometimes\n}\n",
        "t.conf:2:16: error: unknown include_check option 'sometimes' (readable, match, wildcard_match, brace_match)",
    ),
    (
        "$A=x $A\nrouter_id $A\n",
        "t.conf:2:1: error: parameter substitution of 'A' does not end after 10000 substitutions (does a definition refer to itself?)",
    ),
    (
        "~SEQ(i,1,3) vrrp_instance VI_${i} {}\n",
        "t.conf:1:1: error: keepalived ~SEQ / ~LST sequence and list blocks are not supported",
    ),
    // blocks
    (
        "global_defs {\n}\n}\n",
        "t.conf:3:1: error: extra '}' (no block is open)",
    ),
    (
        "{ router_id x }\n",
        "t.conf:1:1: error: unexpected '{' (a block must follow a keyword)",
    ),
    (
        "global_defs {\n router_id x\n",
        "t.conf:1:13: error: missing '}': this block is never closed",
    ),
    // keywords and arguments
    (
        "global_def {\n}\n",
        "t.conf:1:1: error: unknown keyword 'global_def' in the top level; did you mean 'global_defs'?",
    ),
    (
        "vrrp_instance VI_1 { virtual_router_id 1\n prority 5 }\n",
        "t.conf:2:2: error: unknown keyword 'prority' in vrrp_instance; did you mean 'priority'?",
    ),
    (
        "vrrp_instance VI_1 { authentication { auth_typ PASS } }\n",
        "t.conf:1:39: error: unknown keyword 'auth_typ' in authentication; did you mean 'auth_type'?",
    ),
    (
        "vrrp_track_process p { proces x }\n",
        "t.conf:1:24: error: unknown keyword 'proces' in vrrp_track_process; did you mean 'process'?",
    ),
    (
        "vrrp_sync_group G { gruop { A } }\n",
        "t.conf:1:21: error: unknown keyword 'gruop' in vrrp_sync_group; did you mean 'group'?",
    ),
    (
        "vrrp_sync_group G { group { A } notify_master_rx_lower_pri /x }\n",
        "t.conf:1:33: error: unknown keyword 'notify_master_rx_lower_pri' in vrrp_sync_group",
    ),
    (
        "global_defs {\n router_id x {\n }\n}\n",
        "t.conf:2:14: error: 'router_id' does not take a { ... } block",
    ),
    (
        "global_defs\n",
        "t.conf:1:1: error: 'global_defs' needs a { ... } block",
    ),
    (
        "global_defs {\n router_id\n}\n",
        "t.conf:2:2: error: 'router_id' needs a value",
    ),
    (
        "vrrp_instance { }\n",
        "t.conf:1:1: error: 'vrrp_instance' needs a name",
    ),
    (
        "vrrp_instance A B { }\n",
        "t.conf:1:17: error: 'vrrp_instance' takes one name",
    ),
    (
        "vrrp_instance VI_1 { virtual_router_id five }\n",
        "t.conf:1:40: error: virtual_router_id: 'five' is not an integer",
    ),
    (
        "vrrp_instance VI_1 { advert_int soon }\n",
        "t.conf:1:33: error: advert_int: 'soon' is not a number of seconds",
    ),
    (
        "vrrp_instance VI_1 { advert_int -1 }\n",
        "t.conf:1:33: error: advert_int: '-1' is not a number of seconds",
    ),
    (
        "vrrp_instance VI_1 { smtp_alert maybe }\n",
        "t.conf:1:33: error: smtp_alert: 'maybe' is not a boolean (on|off|true|false|yes|no)",
    ),
    (
        "vrrp_instance VI_1 { state master }\n",
        "t.conf:1:28: error: state must be MASTER or BACKUP, not 'master'",
    ),
    (
        "vrrp_instance VI_1 { authentication { auth_type MD5 } }\n",
        "t.conf:1:49: error: auth_type must be PASS or AH, not 'MD5'",
    ),
    (
        "global_defs { script_user }\n",
        "t.conf:1:15: error: 'script_user' needs a user name",
    ),
    (
        "global_defs { script_user a b c }\n",
        "t.conf:1:31: error: script_user: too many arguments",
    ),
    (
        "global_defs { script_user a:b c }\n",
        "t.conf:1:31: error: script_user: too many arguments",
    ),
    (
        "global_defs { smtp_server }\n",
        "t.conf:1:15: error: 'smtp_server' needs a host or address",
    ),
    (
        "global_defs { smtp_server h x }\n",
        "t.conf:1:29: error: smtp_server port: 'x' is not an integer",
    ),
    (
        "global_defs { notify_fifo }\n",
        "t.conf:1:15: error: 'notify_fifo' needs a path",
    ),
    (
        "vrrp_script s { script }\n",
        "t.conf:1:17: error: 'script' needs a command",
    ),
    (
        "vrrp_script s { script /x a b c }\n",
        "t.conf:1:31: error: 'script' takes a command and at most a user and a group; quote a command line that contains spaces",
    ),
    (
        "vrrp_script s { script /x\n weight }\n",
        "t.conf:2:2: error: 'weight' needs a value",
    ),
    (
        "vrrp_script s { script /x\n weight 2 backwards }\n",
        "t.conf:2:11: error: weight: unexpected 'backwards' (expected reverse)",
    ),
    (
        "vrrp_track_process p { process }\n",
        "t.conf:1:24: error: 'process' needs a process name",
    ),
    (
        "vrrp_instance VI_1 { track_script { s weight x } }\n",
        "t.conf:1:46: error: track_script: weight 'x' is not an integer",
    ),
    (
        "vrrp_instance VI_1 { track_script { s weight } }\n",
        "t.conf:1:39: error: 'weight' needs a value",
    ),
    (
        "vrrp_instance VI_1 { track_interface { eth0 heavy } }\n",
        "t.conf:1:45: error: track_interface: unexpected 'heavy' (expected weight N [reverse|noreverse])",
    ),
    (
        "vrrp_instance VI_1 { unicast_peer { 192.0.2.2 ttl 3 } }\n",
        "t.conf:1:47: error: unicast_peer: unexpected 'ttl' (expected min_ttl N or max_ttl N)",
    ),
    (
        "vrrp_instance VI_1 { unicast_peer { 192.0.2.2 min_ttl x } }\n",
        "t.conf:1:55: error: unicast_peer: min_ttl 'x' is not an integer",
    ),
    (
        "vrrp_instance VI_1 { unicast_peer { 192.0.2.2 max_ttl } }\n",
        "t.conf:1:47: error: 'max_ttl' needs a value",
    ),
    // ranges
    (
        "vrrp_instance VI_1 { virtual_router_id 0 }\n",
        "t.conf:1:40: error: virtual_router_id must be between 1 and 255, not 0",
    ),
    (
        "vrrp_instance VI_1 { virtual_router_id 256 }\n",
        "t.conf:1:40: error: virtual_router_id must be between 1 and 255, not 256",
    ),
    (
        "vrrp_instance VI_1 { priority 0 }\n",
        "t.conf:1:31: error: priority must be between 1 and 255, not 0",
    ),
    (
        "vrrp_instance VI_1 { priority 300 }\n",
        "t.conf:1:31: error: priority must be between 1 and 255, not 300",
    ),
    (
        "vrrp_instance VI_1 { advert_int 0 }\n",
        "t.conf:1:33: error: advert_int must be greater than 0",
    ),
    (
        "vrrp_instance VI_1 { advert_int 256 }\n",
        "t.conf:1:33: error: advert_int must be between 1 and 255 seconds for VRRP version 2, not 256",
    ),
    (
        "vrrp_instance VI_1 { version 3\n advert_int 256 }\n",
        "t.conf:2:13: error: advert_int must be between 0.01 and 40.95 seconds for VRRP version 3, not 256",
    ),
    (
        "vrrp_instance VI_1 { version 3\n advert_int 0.001 }\n",
        "t.conf:2:13: error: advert_int must be between 0.01 and 40.95 seconds for VRRP version 3, not 0.001",
    ),
    (
        "vrrp_instance VI_1 { preempt_delay 1001 }\n",
        "t.conf:1:36: error: preempt_delay must be between 0 and 1000 seconds, not 1001",
    ),
    // timers: keepalived's bounds and number syntax (no exponent, sign, inf, nan or hex)
    (
        "vrrp_instance VI_1 { advert_int 1e25 }\n",
        "t.conf:1:33: error: advert_int: '1e25' is not a number of seconds",
    ),
    (
        "vrrp_instance VI_1 { preempt_delay -0 }\n",
        "t.conf:1:36: error: preempt_delay: '-0' is not a number of seconds",
    ),
    (
        "vrrp_instance VI_1 { advert_int inf }\n",
        "t.conf:1:33: error: advert_int: 'inf' is not a number of seconds",
    ),
    (
        "vrrp_instance VI_1 { advert_int 0x10 }\n",
        "t.conf:1:33: error: advert_int: '0x10' is not a number of seconds",
    ),
    (
        "global_defs { vrrp_garp_master_delay 1e30 }\n",
        "t.conf:1:38: error: vrrp_garp_master_delay: '1e30' is not a number of seconds",
    ),
    (
        "global_defs { vrrp_garp_master_delay 4295 }\n",
        "t.conf:1:38: error: vrrp_garp_master_delay must be between 0 and 4294 seconds, not 4295",
    ),
    (
        "global_defs { vrrp_garp_lower_prio_delay 100000 }\n",
        "t.conf:1:42: error: vrrp_garp_lower_prio_delay must be between 0 and 4294 seconds, not 100000",
    ),
    (
        "global_defs { vrrp_garp_master_refresh 4294967296 }\n",
        "t.conf:1:40: error: vrrp_garp_master_refresh must be between 0 and 4294967295 seconds, not 4294967296",
    ),
    (
        "vrrp_instance VI_1 { garp_master_refresh 100000000000000000000000000000 }\n",
        "t.conf:1:42: error: garp_master_refresh must be between 0 and 4294967295 seconds, not 1e29",
    ),
    (
        "vrrp_instance VI_1 { garp_master_delay 5000.5 }\n",
        "t.conf:1:40: error: garp_master_delay must be between 0 and 4294 seconds, not 5000.5",
    ),
    (
        "vrrp_instance VI_1 { garp_lower_prio_delay 4294.5 }\n",
        "t.conf:1:44: error: garp_lower_prio_delay must be between 0 and 4294 seconds, not 4294.5",
    ),
    (
        "global_defs { vrrp_garp_interval 5000 }\n",
        "t.conf:1:34: error: vrrp_garp_interval must be between 0 and 4294.967295 seconds, not 5000",
    ),
    (
        "global_defs { vrrp_gna_interval 4294.967296 }\n",
        "t.conf:1:33: error: vrrp_gna_interval must be between 0 and 4294.967295 seconds, not 4294.967296",
    ),
    (
        "global_defs { vrrp_startup_delay 86401 }\n",
        "t.conf:1:34: error: vrrp_startup_delay must be between 0 and 4294.967295 seconds, not 86401",
    ),
    (
        "global_defs { smtp_connect_timeout 4295 }\n",
        "t.conf:1:36: error: smtp_connect_timeout must be between 0.001 and 4294 seconds, not 4295",
    ),
    (
        "vrrp_script s { script /x\n interval 1000000 }\n",
        "t.conf:2:11: error: interval must be between 0.001 and 4294 seconds, not 1000000",
    ),
    (
        "vrrp_script s { script /x\n timeout 0.0001 }\n",
        "t.conf:2:10: error: timeout must be between 0.001 and 4294 seconds, not 0.0001",
    ),
    (
        "vrrp_track_process p { process x\n delay 3601 }\n",
        "t.conf:2:8: error: delay must be between 0 and 3600 seconds, not 3601",
    ),
    (
        "vrrp_track_process p { process x\n fork_delay 1e3 }\n",
        "t.conf:2:13: error: fork_delay: '1e3' is not a number of seconds",
    ),
    (
        "vrrp_track_process p { process x\n terminate_delay 7200 }\n",
        "t.conf:2:18: error: terminate_delay must be between 0 and 3600 seconds, not 7200",
    ),
    // track_file and the keepalived keywords kept for later
    (
        "vrrp_instance VI_1 { track_file { nope } }\n",
        "t.conf:1:35: error: vrrp_instance VI_1: track_file names unknown track_file 'nope'",
    ),
    (
        "track_file tf { file /a }\nvrrp_instance VI_1 { virtual_router_id 1 }\nvrrp_sync_group G { group { VI_1 } track_file { fx } }\n",
        "t.conf:3:49: error: vrrp_sync_group G: track_file names unknown track_file 'fx'; did you mean 'tf'?",
    ),
    (
        "track_file t { file /a }\ntrack_file t { file /b }\n",
        "t.conf:2:12: error: track_file 't' is already defined at t.conf:1:12",
    ),
    (
        "track_file t { file /a\n weight 255 }\n",
        "t.conf:2:9: error: weight must be between -254 and 254, not 255",
    ),
    (
        "track_file t { file /a }\nvrrp_instance VI_1 { track_file { t weight 255 } }\n",
        "t.conf:2:44: error: weight must be between -254 and 254, not 255",
    ),
    (
        "track_file t { file /a\n init_file 1 x }\n",
        "t.conf:2:14: error: init_file: unexpected 'x' (expected [VALUE] [overwrite])",
    ),
    (
        "track_file t { file /a\n init_file 2147483648 }\n",
        "t.conf:2:12: error: init_file must be between -2147483648 and 2147483647, not 2147483648",
    ),
    (
        "track_file t { fiel /a }\n",
        "t.conf:1:16: error: unknown keyword 'fiel' in track_file; did you mean 'file'?",
    ),
    (
        "track_file { file /a }\n",
        "t.conf:1:1: error: 'track_file' needs a name",
    ),
    (
        "global_defs { dynamic_interfaces always }\n",
        "t.conf:1:34: error: dynamic_interfaces: unknown option 'always' (allow_if_changes)",
    ),
    (
        "vrrp_instance VI_1 { old_unicast_checksum sometimes }\n",
        "t.conf:1:43: error: old_unicast_checksum: unknown option 'sometimes' (never)",
    ),
    (
        "global_defs { vrrp_delay_after_boot 4295 }\n",
        "t.conf:1:37: error: vrrp_delay_after_boot must be between 0 and 4294.967295 seconds, not 4295",
    ),
    (
        "global_defs { data_use_instance 1 }\n",
        "t.conf:1:33: error: data_use_instance: '1' is not a boolean (on|off|true|false|yes|no)",
    ),
    (
        "net_namespace\n",
        "t.conf:1:1: error: 'net_namespace' needs a value",
    ),
    (
        "vrrp_instance VI_1 { version 4 }\n",
        "t.conf:1:30: error: version must be 2 or 3, not 4",
    ),
    (
        "global_defs { vrrp_version 1 }\n",
        "t.conf:1:28: error: vrrp_version must be 2 or 3, not 1",
    ),
    (
        "vrrp_script s { script /x\n weight 254 }\n",
        "t.conf:2:9: error: weight must be between -253 and 253, not 254",
    ),
    (
        "vrrp_script s { script /x\n rise 4294967296 }\n",
        "t.conf:2:7: error: rise must be between 1 and 4294967295, not 4294967296",
    ),
    (
        "vrrp_script s { script /x\n fall -1 }\n",
        "t.conf:2:7: error: fall must be between 1 and 4294967295, not -1",
    ),
    (
        "vrrp_track_process p { process x\n weight -255 }\n",
        "t.conf:2:9: error: weight must be between -254 and 254, not -255",
    ),
    (
        "vrrp_track_process p { process x\n quorum 0 }\n",
        "t.conf:2:9: error: quorum must be between 1 and 65535, not 0",
    ),
    (
        "vrrp_track_process p { process x\n quorum 3\n quorum_max 2 }\n",
        "t.conf:3:13: error: quorum_max 2 is smaller than quorum 3",
    ),
    (
        "vrrp_track_process p { process x\n param_match whole }\n",
        "t.conf:2:14: error: param_match must be initial or partial, not 'whole'",
    ),
    (
        "vrrp_track_process p { }\n",
        "t.conf:1:20: error: vrrp_track_process 'p' has no process",
    ),
    (
        "vrrp_script s { script /x }\nvrrp_instance VI_1 { track_script { s weight 255 } }\n",
        "t.conf:2:46: error: weight must be between -253 and 253, not 255",
    ),
    (
        "vrrp_instance VI_1 { track_interface { eth1 weight -255 } }\n",
        "t.conf:1:52: error: weight must be between -253 and 253, not -255",
    ),
    (
        "global_defs { vrrp_down_timer_adverts 101 }\n",
        "t.conf:1:39: error: vrrp_down_timer_adverts must be between 1 and 100, not 101",
    ),
    (
        "vrrp_instance VI_1 { down_timer_adverts 0 }\n",
        "t.conf:1:41: error: down_timer_adverts must be between 1 and 100, not 0",
    ),
    (
        "global_defs { vrrp_garp_master_repeat -1 }\n",
        "t.conf:1:39: error: vrrp_garp_master_repeat must be between 1 and 255, not -1",
    ),
    (
        "vrrp_instance VI_1 { garp_master_refresh_repeat 256 }\n",
        "t.conf:1:49: error: garp_master_refresh_repeat must be between 1 and 255, not 256",
    ),
    (
        "vrrp_instance VI_1 { garp_lower_prio_repeat 256 }\n",
        "t.conf:1:45: error: garp_lower_prio_repeat must be between 0 and 255, not 256",
    ),
    (
        "vrrp_instance VI_1 { unicast_ttl 256 }\n",
        "t.conf:1:34: error: unicast_ttl must be between 0 and 255, not 256",
    ),
    (
        "vrrp_instance VI_1 { kernel_rx_buf_size -1 }\n",
        "t.conf:1:41: error: kernel_rx_buf_size must be between 0 and 4294967295, not -1",
    ),
    (
        "vrrp_instance VI_1 { unicast_peer { 192.0.2.2 min_ttl 300 } }\n",
        "t.conf:1:55: error: min_ttl must be between 0 and 255, not 300",
    ),
    (
        "vrrp_instance VI_1 { unicast_peer { 192.0.2.2 min_ttl 200 max_ttl 100 } }\n",
        "t.conf:1:67: error: unicast_peer 192.0.2.2: max_ttl 100 is smaller than min_ttl 200",
    ),
    (
        "global_defs { smtp_server h 0 }\n",
        "t.conf:1:29: error: smtp_server port must be between 1 and 65535, not 0",
    ),
    (
        "global_defs { vrrp_mcast_group4 192.0.2.1 }\n",
        "t.conf:1:33: error: vrrp_mcast_group4: '192.0.2.1' is not an IPv4 multicast address",
    ),
    (
        "global_defs { vrrp_mcast_group6 2001:db8::1 }\n",
        "t.conf:1:33: error: vrrp_mcast_group6: '2001:db8::1' is not an IPv6 multicast address",
    ),
    // addresses
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.300 } }\n",
        "t.conf:1:42: error: virtual_ipaddress: '192.0.2.300' is not an IP address",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3/33 } }\n",
        "t.conf:1:42: error: virtual_ipaddress: '/33' is not a prefix length (0..32) in '192.0.2.3/33'",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3 brd x } }\n",
        "t.conf:1:56: error: virtual_ipaddress: brd 'x' is not an IPv4 address, + or -",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3 scope universe } }\n",
        "t.conf:1:58: error: virtual_ipaddress: scope must be global, site, link, host or nowhere, not 'universe'",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3 peer x } }\n",
        "t.conf:1:57: error: virtual_ipaddress: peer 'x' is not an IP address",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 2001:db8::3 preferred_lft never } }\n",
        "t.conf:1:68: error: virtual_ipaddress: preferred_lft must be a number of seconds or forever, not 'never'",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3 dev } }\n",
        "t.conf:1:52: error: virtual_ipaddress: 'dev' needs a value",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3 lable x } }\n",
        "t.conf:1:52: error: virtual_ipaddress: unknown address option 'lable'; did you mean 'label'?",
    ),
    (
        "vrrp_instance VI_1 { unicast_src_ip 192.0.2.999 }\n",
        "t.conf:1:37: error: unicast_src_ip: '192.0.2.999' is not an IP address",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3 }\n mcast_src_ip 2001:db8::1 }\n",
        "t.conf:2:15: error: unicast_src_ip 2001:db8::1 is IPv6 but vrrp_instance VI_1 is IPv4",
    ),
    (
        "vrrp_instance VI_1 { unicast_peer { x } }\n",
        "t.conf:1:37: error: unicast_peer: 'x' is not an IP address",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3 }\n unicast_peer { 2001:db8::2 } }\n",
        "t.conf:2:17: error: unicast_peer 2001:db8::2 is IPv6 but vrrp_instance VI_1 is IPv4",
    ),
    (
        "vrrp_instance VI_1 { virtual_ipaddress { 192.0.2.3 }\n native_ipv6 }\n",
        "t.conf:2:2: error: native_ipv6 conflicts with the IPv4 addresses of vrrp_instance VI_1",
    ),
    // instance semantics
    (
        "global_defs { vrrp_strict }\nvrrp_instance VI_1 { unicast_peer { 192.0.2.2 } }\n",
        "t.conf:2:22: error: unicast_peer cannot be used with vrrp_strict / strict_mode (strict mode is multicast only)",
    ),
    (
        "vrrp_instance VI_1 { strict_mode\n unicast_peer { 192.0.2.2 } }\n",
        "t.conf:2:2: error: unicast_peer cannot be used with vrrp_strict / strict_mode (strict mode is multicast only)",
    ),
    (
        "vrrp_instance VI_1 { authentication { auth_pass x } }\n",
        "t.conf:1:22: error: authentication needs auth_type PASS or AH",
    ),
    (
        "vrrp_instance VI_1 { authentication { auth_type PASS } }\n",
        "t.conf:1:49: error: auth_type PASS needs an auth_pass",
    ),
    (
        "vrrp_instance VI_1 { priority 100 }\n",
        "t.conf:1:15: error: vrrp_instance VI_1 has no virtual_router_id",
    ),
    (
        "vrrp_instance VI_1 { virtual_router_id 1 }\nvrrp_instance VI_1 { virtual_router_id 2 }\n",
        "t.conf:2:15: error: vrrp_instance 'VI_1' is already defined at t.conf:1:15",
    ),
    (
        "vrrp_script s { script /x }\nvrrp_script s { script /y }\n",
        "t.conf:2:13: error: vrrp_script 's' is already defined at t.conf:1:13",
    ),
    (
        "vrrp_track_process p { process x }\nvrrp_track_process p { process y }\n",
        "t.conf:2:20: error: vrrp_track_process 'p' is already defined at t.conf:1:20",
    ),
    (
        "vrrp_instance A { virtual_router_id 1 }\nvrrp_sync_group G { group { A } }\nvrrp_sync_group G { group { A } }\n",
        "t.conf:3:17: error: vrrp_sync_group 'G' is already defined at t.conf:2:17",
    ),
    (
        "vrrp_instance A { virtual_router_id 51 }\nvrrp_instance B { virtual_router_id 51 }\n",
        "t.conf:2:37: error: virtual_router_id 51 is already used on eth0 (IPv4) by vrrp_instance A at t.conf:1:15",
    ),
    (
        "vrrp_script chk_haproxy { script /x }\nvrrp_instance VI_1 { track_script { chk_haproxi } }\n",
        "t.conf:2:37: error: vrrp_instance VI_1: track_script names unknown vrrp_script 'chk_haproxi'; did you mean 'chk_haproxy'?",
    ),
    (
        "vrrp_instance VI_1 { track_process { nginx } }\n",
        "t.conf:1:38: error: vrrp_instance VI_1: track_process names unknown vrrp_track_process 'nginx'",
    ),
    (
        "vrrp_instance VI_1 { virtual_router_id 1 }\nvrrp_sync_group G { group { VI_1 VI_2 } }\n",
        "t.conf:2:34: error: vrrp_sync_group G: unknown vrrp_instance 'VI_2'; did you mean 'VI_1'?",
    ),
    (
        "vrrp_instance A { virtual_router_id 1 }\nvrrp_sync_group G { group { A } }\nvrrp_sync_group H { group { A } }\n",
        "t.conf:3:29: error: vrrp_sync_group H: vrrp_instance A is already in vrrp_sync_group G at t.conf:2:29",
    ),
    (
        "vrrp_instance VI_1 { notify_master \"\" }\n",
        "t.conf:1:36: error: notify_master: empty command",
    ),
];

#[test]
fn every_error_path_reports_its_exact_line() {
    let mut failures = Vec::new();
    for (text, want) in ERRORS {
        let (c, d) = parse(text);
        let lines = diag_lines(&d);
        if c.is_some() || !lines.iter().any(|l| l == want) {
            failures.push(format!(
                "config:\n{text}want: {want}\ngot ({}):\n{d}",
                if c.is_some() { "accepted" } else { "rejected" }
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        ERRORS.len(),
        failures.join("\n")
    );
}

#[test]
fn all_problems_are_reported_in_one_pass() {
    let (c, d) = parse(
        "vrrp_instance VI_1 {\n virtual_router_id 0\n priority 0\n advert_int x\n bogus\n}\n",
    );
    assert!(c.is_none());
    assert_eq!(d.error_count(), 4, "{d}");
}

// ---- no number can crash the parser -------------------------------------------------------------

/// Which block a timer keyword lives in.
#[derive(Clone, Copy)]
enum Block {
    Global,
    Instance,
    Script,
    Process,
}

/// A timer keyword, the largest value accepted (seconds) and where the model keeps it.
struct TimerKw {
    block: Block,
    kw: &'static str,
    max: f64,
    get: fn(&VrrpConfig) -> Duration,
}

const TIMER_KWS: &[TimerKw] = &[
    TimerKw {
        block: Block::Global,
        kw: "smtp_connect_timeout",
        max: 4294.0,
        get: |c| c.global.smtp_connect_timeout,
    },
    TimerKw {
        block: Block::Global,
        kw: "vrrp_garp_master_delay",
        max: 4294.0,
        get: |c| c.global.garp.master_delay,
    },
    TimerKw {
        block: Block::Global,
        kw: "vrrp_garp_master_refresh",
        max: 4_294_967_295.0,
        get: |c| c.global.garp.master_refresh,
    },
    TimerKw {
        block: Block::Global,
        kw: "vrrp_garp_lower_prio_delay",
        max: 4294.0,
        get: |c| c.global.garp.lower_prio_delay.unwrap_or_default(),
    },
    TimerKw {
        block: Block::Global,
        kw: "vrrp_garp_interval",
        max: 4294.967295,
        get: |c| c.global.garp_interval,
    },
    TimerKw {
        block: Block::Global,
        kw: "vrrp_gna_interval",
        max: 4294.967295,
        get: |c| c.global.gna_interval,
    },
    TimerKw {
        block: Block::Global,
        kw: "vrrp_startup_delay",
        max: 4294.967295,
        get: |c| c.global.startup_delay,
    },
    TimerKw {
        block: Block::Global,
        kw: "vrrp_delay_after_boot",
        max: 4294.967295,
        get: |c| c.global.delay_after_boot.unwrap_or_default(),
    },
    TimerKw {
        block: Block::Instance,
        kw: "advert_int",
        max: 255.0,
        get: |c| c.instances[0].advert_int,
    },
    TimerKw {
        block: Block::Instance,
        kw: "preempt_delay",
        max: 1000.0,
        get: |c| c.instances[0].preempt_delay,
    },
    TimerKw {
        block: Block::Instance,
        kw: "garp_master_delay",
        max: 4294.0,
        get: |c| c.instances[0].garp.master_delay,
    },
    TimerKw {
        block: Block::Instance,
        kw: "garp_master_refresh",
        max: 4_294_967_295.0,
        get: |c| c.instances[0].garp.master_refresh,
    },
    TimerKw {
        block: Block::Instance,
        kw: "garp_lower_prio_delay",
        max: 4294.0,
        get: |c| c.instances[0].garp.lower_prio_delay.unwrap_or_default(),
    },
    TimerKw {
        block: Block::Script,
        kw: "interval",
        max: 4294.0,
        get: |c| c.scripts["s"].interval,
    },
    TimerKw {
        block: Block::Script,
        kw: "timeout",
        max: 4294.0,
        get: |c| c.scripts["s"].timeout,
    },
    TimerKw {
        block: Block::Process,
        kw: "delay",
        max: 3600.0,
        get: |c| c.track_processes["p"].delay,
    },
    TimerKw {
        block: Block::Process,
        kw: "fork_delay",
        max: 3600.0,
        get: |c| c.track_processes["p"].fork_delay.unwrap_or_default(),
    },
    TimerKw {
        block: Block::Process,
        kw: "terminate_delay",
        max: 3600.0,
        get: |c| c.track_processes["p"].terminate_delay.unwrap_or_default(),
    },
];

impl TimerKw {
    /// A configuration setting the keyword to `v`, and the line `v` is on.
    fn conf(&self, v: &str) -> (String, usize) {
        let kw = self.kw;
        match self.block {
            Block::Global => (format!("global_defs {{\n {kw} {v}\n}}\n{}", inst("")), 2),
            Block::Instance => (inst(&format!(" {kw} {v}")), 6),
            Block::Script => (
                format!("vrrp_script s {{\n script /bin/true\n {kw} {v}\n}}\n"),
                3,
            ),
            Block::Process => (
                format!("vrrp_track_process p {{\n process x\n {kw} {v}\n}}\n"),
                3,
            ),
        }
    }

    /// Parses `kw v`: it must not panic; if accepted, the duration is within the keyword's
    /// bounds; if not, an error on the value's line names the keyword.
    fn check(&self, v: &str) -> Result<(), String> {
        let (text, line) = self.conf(v);
        let (c, d) = parse(&text);
        match c {
            Some(c) => {
                let got = (self.get)(&c);
                if got > Duration::from_secs_f64(self.max) {
                    return Err(format!(
                        "{} {v}: accepted as {got:?}, above {}",
                        self.kw, self.max
                    ));
                }
            }
            None => {
                let prefix = format!("t.conf:{line}:");
                let named = d.iter().map(ToString::to_string).any(|l| {
                    l.starts_with(&prefix) && l.contains(": error: ") && l.contains(self.kw)
                });
                if !named {
                    return Err(format!(
                        "{} {v}: rejected without naming it on line {line}:\n{d}",
                        self.kw
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Numbers that once crashed `vrrpd -t` (`Duration::from_secs_f64` panics on overflow) or that
/// sit on a boundary.
const HOSTILE_NUMBERS: &[&str] = &[
    "1e30",
    "1e25",
    "1E5",
    "-0",
    "-0.0",
    "-1",
    "+5",
    ".5",
    "5.",
    "0",
    "0.0",
    "0.001",
    "0.0000001",
    "inf",
    "-inf",
    "infinity",
    "NaN",
    "nan",
    "0x10",
    "1.7976931348623157e308",
    "5e-324",
    "4.9406564584124654e-324",
    "4294",
    "4294.000001",
    "4294.967295",
    "4294.967296",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "86400",
    "86401",
    "3600",
    "3600.000001",
    "1000",
    "1000.0000001",
    "255",
    "255.5",
    "40.95",
    "40.96",
    "1.5.5",
    ".",
    "+",
    "",
];

#[test]
fn no_number_written_for_a_timer_crashes_or_escapes_its_bounds() {
    let huge = format!("1{}", "0".repeat(400));
    let mut failures = Vec::new();
    for t in TIMER_KWS {
        for v in HOSTILE_NUMBERS.iter().copied().chain([huge.as_str()]) {
            if let Err(e) = t.check(v) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn timers_accept_keepalived_values_up_to_their_bounds() {
    for t in TIMER_KWS {
        let max = if t.kw == "advert_int" {
            "255".to_string()
        } else {
            t.max.to_string()
        };
        let (text, _) = t.conf(&max);
        let (c, d) = parse(&text);
        let c = c.unwrap_or_else(|| panic!("{} {max} rejected:\n{d}", t.kw));
        assert_eq!((t.get)(&c), Duration::from_secs_f64(t.max), "{}", t.kw);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Any float, in every notation Rust prints, and any short string of number characters.
    #[test]
    fn no_float_crashes_a_timer(
        bits in proptest::num::u64::ANY,
        junk in "[-+0-9.eE]{0,12}",
    ) {
        let f = f64::from_bits(bits);
        for t in TIMER_KWS {
            for v in [format!("{f}"), format!("{f:e}"), format!("{f:?}"), junk.clone()] {
                if let Err(e) = t.check(&v) {
                    proptest::prop_assert!(false, "{}", e);
                }
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// `auth_pass` becomes exactly what the packet codec's `pass_auth` makes of it (one
    /// definition of the PASS bytes, multi-byte characters cut at byte 8 included), with the
    /// truncation warning exactly when `pass_auth` truncates.
    #[test]
    fn auth_pass_is_the_codecs_pass_auth(pw in "[a-zA-Z0-9éü€ #!{}]{1,12}") {
        let (c, d) = ok(&inst(&format!(
            " authentication {{\n  auth_type PASS\n  auth_pass \"{pw}\"\n }}\n"
        )));
        let (want, truncated) = lbcore::vrrp::packet::pass_auth(&pw);
        proptest::prop_assert_eq!(c.instances[0].auth, want);
        proptest::prop_assert_eq!(d.contains("truncating auth_pass to 8 characters"), truncated);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(256))]

    /// Whatever the text (definitions, references, conditionals, quotes, escapes, braces), the
    /// front end ends and does not panic.
    #[test]
    fn any_text_with_parameters_is_read_without_panicking(
        lines in proptest::collection::vec("[$@^{}AB_=x \\\\\"'#!~0-9]{0,16}", 0..12),
    ) {
        let text = lines.join("\n");
        let _ = parse(&text);
    }
}

#[test]
fn track_proxyd_block_defaults_and_references() {
    let text = format!(
        "track_proxyd px {{\n pid_file /run/proxyd/proxyd.pid\n liveness_socket /run/proxyd/liveness.sock\n \
         require_serving\n interval 0.5\n}}\ntrack_proxyd bare {{\n}}\n{}\
         vrrp_sync_group G {{\n group {{\n  VI_1\n }}\n track_proxyd {{\n  bare weight 10 reverse\n }}\n}}\n",
        inst(" track_proxyd {\n  px\n  bare weight -30\n }")
    );
    let (c, d) = ok(&text);
    assert!(!d.contains("error"), "{d}");
    let px = &c.track_proxyds["px"];
    assert_eq!(px.pid_file, Path::new("/run/proxyd/proxyd.pid"));
    assert_eq!(px.liveness_socket, Path::new("/run/proxyd/liveness.sock"));
    assert!(px.require_serving);
    assert_eq!(px.interval, Duration::from_millis(500));
    // The query must end before the next check: half the interval by default.
    assert_eq!(px.timeout, Duration::from_millis(250));
    // Weight 0 by default: proxyd down faults the instance (the fast path).
    assert_eq!(px.weight, Weight::default());
    let bare = &c.track_proxyds["bare"];
    assert_eq!(bare.pid_file, Path::new(lbcore::liveness::DEFAULT_PID_FILE));
    assert_eq!(
        bare.liveness_socket,
        Path::new(lbcore::liveness::DEFAULT_SOCKET)
    );
    assert!(!bare.require_serving);
    assert_eq!(bare.interval, DEFAULT_PROXYD_INTERVAL);
    let refs = &c.instances[0].track_proxyd;
    assert_eq!(refs.len(), 2);
    assert_eq!((refs[0].name.as_str(), refs[0].weight), ("px", None));
    assert_eq!(refs[1].weight.map(|w| w.value), Some(-30));
    let g = &c.sync_groups[0].track_proxyd;
    assert_eq!(
        g[0].weight,
        Some(Weight {
            value: 10,
            reverse: true
        })
    );
}

#[test]
fn track_proxyd_diagnostics_are_located_with_hints() {
    let text = format!(
        "track_proxyd px {{\n pid_fle /run/p.pid\n interval 1\n timeout 2\n weight 300\n \
         liveness_socket rel.sock\n}}\n{}",
        inst(" track_proxyd {\n  pz\n }")
    );
    let (c, d) = parse(&text);
    assert!(c.is_none());
    let lines = diag_lines(&d);
    let want = [
        "t.conf:2:2: error: unknown keyword 'pid_fle' in track_proxyd; did you mean 'pid_file'?",
        "t.conf:4:10: warning: track_proxyd px: timeout must be shorter than the interval (1s); using 0.5s",
        "t.conf:5:9: error: weight must be between -254 and 254, not 300",
        "t.conf:6:18: error: track_proxyd px: liveness_socket must be an absolute path, not 'rel.sock'",
        "t.conf:14:3: error: vrrp_instance VI_1: track_proxyd names unknown track_proxyd 'pz'; did you mean 'px'?",
    ];
    for w in want {
        assert!(
            lines.iter().any(|l| l == w),
            "missing {w:?} in:\n{}",
            lines.join("\n")
        );
    }
}
