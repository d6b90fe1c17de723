//! YAML front end: equivalence with keepalived.conf (etc/keepalived/lb1.yaml vs lb1.conf, and a
//! fuller pair in tests/conf/yaml), error mapping to `file:line:col`, and the cost of locating
//! values.
//!
//! Equality is checked on [`VrrpConfig::without_spans`]: spans necessarily differ between two
//! files, everything else must not.

use std::path::Path;
use std::time::{Duration, Instant};

use lbcore::config::load_vrrp;
use lbcore::config::vrrp::*;
use lbcore::config::vrrp_yaml::parse_str;
use lbcore::diag::Diagnostics;

fn parse(text: &str) -> (Option<VrrpConfig>, Diagnostics) {
    parse_str(text, Path::new("t.yaml"))
}

fn lines(d: &Diagnostics) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

#[test]
fn lb1_yaml_equals_lb1_conf() {
    let (y, yd) = load_vrrp(Path::new("../../etc/keepalived/lb1.yaml"));
    let (k, kd) = load_vrrp(Path::new("../../etc/keepalived/lb1.conf"));
    assert!(yd.is_empty(), "{yd}");
    assert_eq!(kd.error_count(), 0, "{kd}");
    let (y, k) = (y.unwrap(), k.unwrap());
    assert_eq!(y.without_spans(), k.without_spans());
    // Spans point into the YAML file.
    assert_eq!(
        y.instances[0].span.to_string(),
        "../../etc/keepalived/lb1.yaml:23:11"
    );
    assert_eq!(
        y.instances[0].vips[0].span.to_string(),
        "../../etc/keepalived/lb1.yaml:33:9"
    );
    assert_eq!(
        y.scripts["chk_haproxy"].command.span.to_string(),
        "../../etc/keepalived/lb1.yaml:18:13"
    );
}

#[test]
fn full_yaml_equals_full_conf() {
    let (y, yd) = load_vrrp(Path::new("tests/conf/yaml/full.yaml"));
    let (k, kd) = load_vrrp(Path::new("tests/conf/yaml/full.conf"));
    assert_eq!(
        yd.to_string()
            .replace("full.yaml", "F")
            .lines()
            .map(|l| l.split_once(": ").unwrap().1.to_string())
            .collect::<Vec<_>>(),
        kd.to_string()
            .replace("full.conf", "F")
            .lines()
            .map(|l| l.split_once(": ").unwrap().1.to_string())
            .collect::<Vec<_>>(),
        "the same warnings, at different places"
    );
    let (y, k) = (y.expect("full.yaml valid"), k.expect("full.conf valid"));
    assert_eq!(y.without_spans(), k.without_spans());
    // Spot checks that the comparison compares something.
    let i = &y.instances[0];
    assert_eq!(i.advert_int, Duration::from_millis(50));
    assert_eq!(
        (i.preempt, i.preempt_delay),
        (false, Duration::from_secs(30))
    );
    assert_eq!(i.unicast_peers[0].min_ttl, Some(254));
    assert_eq!(
        i.notify.master.as_ref().unwrap().user,
        Some(("nobody".into(), Some("nogroup".into())))
    );
    assert!(y.instances[1].ipv6);
    assert_eq!(y.global.smtp_server, Some(("mail.example.com".into(), 587)));
    assert_eq!(y.global.smtp_connect_timeout, Duration::from_millis(2500));
    assert_eq!(
        y.track_processes["proxyd"].weight,
        Weight {
            value: -10,
            reverse: true
        }
    );
    let m = &y.track_files["maintenance"];
    assert_eq!(
        (
            m.file.to_str(),
            m.weight.value,
            m.weight.reverse,
            m.init_file
        ),
        (
            Some("/run/vrrpd/maintenance"),
            -50,
            true,
            Some(InitFile {
                value: 0,
                overwrite: true
            })
        )
    );
    assert_eq!(
        y.track_files["offset"].weight.value, 1,
        "keepalived's default"
    );
    assert_eq!(i.track_file[1].weight.map(|w| w.value), Some(2));
    assert_eq!(y.sync_groups[0].track_file[0].name, "offset");
    assert_eq!(
        y.instances[1].old_unicast_checksum,
        OldUnicastChecksum::Never
    );
    assert_eq!(
        y.instances[1].use_ipvlan.as_deref(),
        Some(&["ipvl61".to_string(), "bridge".to_string()][..])
    );
    let g = &y.global;
    assert_eq!(
        (
            g.instance_name.as_deref(),
            g.use_pid_dir,
            g.data_use_instance
        ),
        (Some("lb1"), true, true)
    );
    assert_eq!(g.delay_after_boot, Some(Duration::from_secs(30)));
    assert_eq!(g.dynamic_interfaces, DynamicInterfaces::AllowIfChanges);
    assert_eq!(
        g.json_dump_file.as_deref(),
        Some(Path::new("/run/vrrpd/state.json"))
    );
}

#[test]
fn yml_extension_and_unreadable_files() {
    let dir = std::env::temp_dir().join(format!("lbcore-yml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("v.yml");
    std::fs::write(&p, "vrrp_instances:\n  - name: A\n    virtual_router_id: 7\n    virtual_ipaddress: [192.0.2.7]\n").unwrap();
    let (c, d) = load_vrrp(&p);
    let missing = dir.join("nope.yaml");
    let (m, md) = load_vrrp(&missing);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(d.is_empty(), "{d}");
    assert_eq!(c.unwrap().instances[0].vrid, 7);
    assert!(m.is_none());
    assert_eq!(
        lines(&md),
        [format!(
            "{}:1:1: error: cannot read configuration file: No such file or directory (os error 2)",
            missing.display()
        )]
    );
}

#[test]
fn empty_file_is_an_empty_configuration() {
    let (c, d) = parse("# nothing\n");
    assert!(d.is_empty());
    assert_eq!(c.unwrap(), VrrpConfig::default());
}

/// (YAML, the exact diagnostic line).
const ERRORS: &[(&str, &str)] = &[
    // syntax
    (
        "vrrp_instances:\n  - name: A\n   bad: [\n",
        "t.yaml:3:4: error: did not find expected '-' indicator, while parsing a block collection at line 2 column 3",
    ),
    // types
    (
        "vrrp_instances:\n  - name: A\n    priority: high\n",
        "t.yaml:3:15: error: vrrp_instances[0].priority: invalid type: string \"high\", expected i64",
    ),
    (
        "vrrp_instances:\n  - name: A\n    state: master\n",
        "t.yaml:3:12: error: vrrp_instances[0].state: unknown variant `master`, expected `MASTER` or `BACKUP`",
    ),
    (
        "vrrp_instances:\n  - virtual_router_id: 1\n",
        "t.yaml:2:5: error: vrrp_instances[0]: missing field `name`",
    ),
    // unknown fields, with a hint when one is close
    (
        "vrrp_instances:\n  - name: A\n    priorty: 100\n",
        "t.yaml:3:5: error: vrrp_instances[0]: unknown field 'priorty'; did you mean 'priority'?",
    ),
    (
        "global_def:\n  router_id: x\n",
        "t.yaml:1:1: error: unknown field 'global_def'; did you mean 'global_defs'?",
    ),
    (
        "vrrp_scripts:\n  - name: s\n    script: {command: /x, usr: y}\n",
        "t.yaml:3:27: error: vrrp_scripts[0].script: unknown field 'usr'; did you mean 'user'?",
    ),
    // durations
    (
        "vrrp_scripts:\n  - name: s\n    script: /x\n    interval: 5 parsecs\n",
        "t.yaml:4:15: error: vrrp_scripts[0].interval: invalid duration '5 parsecs': expected seconds or a number with a unit (us, ms, s, m, h), like \"50ms\"",
    ),
    (
        "vrrp_scripts:\n  - name: s\n    script: /x\n    interval: -1\n",
        "t.yaml:4:15: error: vrrp_scripts[0].interval: duration -1 is negative",
    ),
    // validation, located at the value
    (
        "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    priority: 300\n",
        "t.yaml:4:15: error: priority must be between 1 and 255, not 300",
    ),
    (
        "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    track_script: [x, {name: chk_haproxi}]\n",
        "t.yaml:4:24: error: vrrp_instance A: track_script names unknown vrrp_script 'chk_haproxi'",
    ),
    (
        "vrrp_instances:\n  - name: A\n",
        "t.yaml:2:11: error: vrrp_instance A has no virtual_router_id",
    ),
    (
        "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    virtual_ipaddress:\n      - 192.0.2.1\n      - 192.0.2.2 lable x\n",
        "t.yaml:6:9: error: virtual_ipaddress: unknown address option 'lable'; did you mean 'label'?",
    ),
    (
        "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    advert_int: 300s\n",
        "t.yaml:4:17: error: advert_int must be between 1 and 255 seconds for VRRP version 2, not 300",
    ),
    (
        "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    unicast_peer:\n      - {address: 192.0.2.2, min_ttl: 300}\n",
        "t.yaml:5:39: error: min_ttl must be between 0 and 255, not 300",
    ),
    (
        "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n  - name: B\n    virtual_router_id: 1\n",
        "t.yaml:5:24: error: virtual_router_id 1 is already used on eth0 (IPv4) by vrrp_instance A at t.yaml:2:11",
    ),
    (
        "vrrp_sync_groups:\n  - name: G\n    group: [A]\n",
        "t.yaml:3:13: error: vrrp_sync_group G: unknown vrrp_instance 'A'",
    ),
    (
        "global_defs:\n  smtp_server: {host: h, port: 70000}\n",
        "t.yaml:2:32: error: smtp_server port must be between 1 and 65535, not 70000",
    ),
    (
        "vrrp_scripts:\n  - name: s\n    script: []\n",
        "t.yaml:3:13: error: script: empty command",
    ),
    (
        "vrrp_track_files: [{name: tf, file: /a}]\nvrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    track_file: [tf, nope]\n",
        "t.yaml:5:22: error: vrrp_instance A: track_file names unknown track_file 'nope'",
    ),
    (
        "vrrp_track_files:\n  - name: tf\n    file: /a\n    init_file: {value: 2147483648}\n",
        "t.yaml:4:24: error: init_file must be between -2147483648 and 2147483647, not 2147483648",
    ),
    (
        "global_defs:\n  dynamic_interfaces: always\n",
        "t.yaml:2:23: error: dynamic_interfaces: unknown option 'always' (allow_if_changes)",
    ),
    (
        "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    old_unicast_checksum: sometimes\n",
        "t.yaml:4:27: error: old_unicast_checksum: unknown option 'sometimes' (never)",
    ),
];

#[test]
fn every_error_is_located() {
    let mut failures = Vec::new();
    for (text, want) in ERRORS {
        let (c, d) = parse(text);
        if c.is_some() || !lines(&d).iter().any(|l| l == want) {
            failures.push(format!("yaml:\n{text}want: {want}\ngot:\n{d}"));
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
fn warnings_are_located_too() {
    let (c, d) = parse(
        "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    state: MASTER\n    preempt: false\n    \
         virtual_ipaddress: [192.0.2.1]\n    authentication: {auth_type: PASS, auth_pass: 123456789}\n",
    );
    assert!(c.is_some());
    assert_eq!(
        lines(&d),
        [
            "t.yaml:7:50: warning: truncating auth_pass to 8 characters",
            "t.yaml:5:14: warning: vrrp_instance A: nopreempt does not work with state MASTER; clearing it",
        ]
    );
}

/// Locating values costs one re-parse each: measure it on a large configuration (100 instances,
/// ~1500 located values) so a regression to something quadratic in a bad way shows.
#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "a test measuring the parser's own cost reads the clock"
)]
fn locating_values_stays_cheap_on_a_large_file() {
    let mut text = String::from(
        "vrrp_scripts:\n  - {name: s, script: /bin/true, interval: 1}\nvrrp_instances:\n",
    );
    for n in 1..=100 {
        text.push_str(&format!(
            "  - name: VI_{n}\n    interface: eth0\n    virtual_router_id: {n}\n    priority: 100\n    \
             advert_int: 1\n    virtual_ipaddress: [192.0.2.{n}/32, 198.51.100.{n}/32]\n    track_script: [s]\n    \
             garp_master_repeat: 2\n    smtp_alert: false\n"
        ));
    }
    let t = Instant::now();
    let (c, d) = parse(&text);
    let took = t.elapsed();
    println!(
        "100-instance YAML ({} bytes) parsed in {took:?}",
        text.len()
    );
    assert!(d.is_empty(), "{d}");
    assert_eq!(c.unwrap().instances.len(), 100);
    // Probing every value took 9.7 s here (debug build); the one-pass index takes ~50 ms.
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

// ---- no number can crash the parser -------------------------------------------------------------

/// Reads one timer back from the model.
type Getter = fn(&VrrpConfig) -> Duration;

/// Where each timer key goes, the largest value accepted (seconds), and where the model keeps it.
const TIMER_KEYS: &[(&str, &str, f64, Getter)] = &[
    ("global", "smtp_connect_timeout", 4294.0, |c| {
        c.global.smtp_connect_timeout
    }),
    ("global", "vrrp_garp_master_delay", 4294.0, |c| {
        c.global.garp.master_delay
    }),
    ("global", "vrrp_garp_master_refresh", 4_294_967_295.0, |c| {
        c.global.garp.master_refresh
    }),
    ("global", "vrrp_garp_lower_prio_delay", 4294.0, |c| {
        c.global.garp.lower_prio_delay.unwrap_or_default()
    }),
    ("global", "vrrp_garp_interval", 4294.967295, |c| {
        c.global.garp_interval
    }),
    ("global", "vrrp_gna_interval", 4294.967295, |c| {
        c.global.gna_interval
    }),
    ("global", "vrrp_startup_delay", 4294.967295, |c| {
        c.global.startup_delay
    }),
    ("global", "vrrp_delay_after_boot", 4294.967295, |c| {
        c.global.delay_after_boot.unwrap_or_default()
    }),
    ("instance", "advert_int", 255.0, |c| {
        c.instances[0].advert_int
    }),
    ("instance", "preempt_delay", 1000.0, |c| {
        c.instances[0].preempt_delay
    }),
    ("instance", "garp_master_delay", 4294.0, |c| {
        c.instances[0].garp.master_delay
    }),
    ("instance", "garp_master_refresh", 4_294_967_295.0, |c| {
        c.instances[0].garp.master_refresh
    }),
    ("instance", "garp_lower_prio_delay", 4294.0, |c| {
        c.instances[0].garp.lower_prio_delay.unwrap_or_default()
    }),
    ("script", "interval", 4294.0, |c| c.scripts["s"].interval),
    ("script", "timeout", 4294.0, |c| c.scripts["s"].timeout),
    ("process", "delay", 3600.0, |c| c.track_processes["p"].delay),
    ("process", "fork_delay", 3600.0, |c| {
        c.track_processes["p"].fork_delay.unwrap_or_default()
    }),
    ("process", "terminate_delay", 3600.0, |c| {
        c.track_processes["p"].terminate_delay.unwrap_or_default()
    }),
];

/// Parses a YAML configuration setting timer `key` to `v`: it must not panic, and an accepted
/// value must be within the key's bounds (a rejected one comes with an error).
fn check_timer(block: &str, key: &str, max: f64, get: Getter, v: &str) -> Result<(), String> {
    let text = match block {
        "global" => format!("global_defs:\n  {key}: {v}\n"),
        "instance" => format!(
            "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    virtual_ipaddress: [192.0.2.1]\n    {key}: {v}\n"
        ),
        "script" => format!("vrrp_scripts:\n  - name: s\n    script: /bin/true\n    {key}: {v}\n"),
        _ => format!("vrrp_track_processes:\n  - name: p\n    process: x\n    {key}: {v}\n"),
    };
    let (c, d) = parse(&text);
    match c {
        Some(c) if get(&c) > Duration::from_secs_f64(max) => Err(format!(
            "{key}: {v}: accepted as {:?}, above {max}",
            get(&c)
        )),
        None if d.error_count() == 0 => Err(format!("{key}: {v}: rejected without an error")),
        _ => Ok(()),
    }
}

#[test]
fn no_number_written_for_a_timer_crashes_or_escapes_its_bounds() {
    let hostile = [
        "1e30",
        "1e25",
        "-0.0",
        "-0",
        "0",
        "5e-324",
        "1.7976931348623157e308",
        ".inf",
        "-.inf",
        ".nan",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "4294.5",
        "86401",
        "\"1e30s\"",
        "\"99999999999999999999999h\"",
        "\"1e300h\"",
        "\"179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000h\"",
        "\"0.0000000001us\"",
        "\"-5s\"",
        "\"inf\"",
        "\"NaN s\"",
    ];
    let mut failures = Vec::new();
    for (block, key, max, get) in TIMER_KEYS {
        for v in hostile {
            if let Err(e) = check_timer(block, key, *max, *get, v) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The values are rejected for the right reason, at the value.
    let (_, d) = parse("global_defs:\n  vrrp_garp_master_delay: 1e30\n");
    assert_eq!(
        lines(&d),
        ["t.yaml:2:27: error: vrrp_garp_master_delay must be between 0 and 4294 seconds, not 1e30"]
    );
    let (_, d) =
        parse("vrrp_scripts:\n  - name: s\n    script: /x\n    interval: \"10000000000000000s\"\n");
    assert_eq!(
        lines(&d),
        ["t.yaml:4:15: error: interval must be between 0.001 and 4294 seconds, not 1e16"]
    );
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Any float, as a YAML number and as a duration string with each unit.
    #[test]
    fn no_float_crashes_a_timer(bits in proptest::num::u64::ANY) {
        let f = f64::from_bits(bits);
        let number = if f.is_nan() {
            ".nan".to_string()
        } else if f.is_infinite() {
            if f > 0.0 { ".inf".to_string() } else { "-.inf".to_string() }
        } else {
            format!("{f:e}")
        };
        let values = [
            number,
            format!("\"{}s\"", f.abs()),
            format!("\"{}h\"", f.abs()),
            format!("\"{}us\"", f.abs()),
        ];
        for (block, key, max, get) in TIMER_KEYS {
            for v in &values {
                if let Err(e) = check_timer(block, key, *max, *get, v) {
                    proptest::prop_assert!(false, "{}", e);
                }
            }
        }
    }
}

#[test]
fn higher_prio_send_advert_is_on_unless_written_off() {
    let hp = |text: &str| {
        let (c, d) = parse(text);
        let c = c.unwrap_or_else(|| panic!("{d}"));
        (
            c.global.higher_prio_send_advert,
            c.instances[0].higher_prio_send_advert,
        )
    };
    let inst = "vrrp_instances:\n  - name: A\n    virtual_router_id: 1\n    virtual_ipaddress: [192.0.2.1]\n";
    assert_eq!(hp(inst), (true, true));
    assert_eq!(
        hp(&format!(
            "global_defs:\n  vrrp_higher_prio_send_advert: false\n{inst}"
        )),
        (false, false)
    );
    assert_eq!(
        hp(&format!("{inst}    higher_prio_send_advert: false\n")),
        (true, false)
    );
    assert_eq!(
        hp(&format!("global_defs:\n  vrrp_strict: true\n{inst}")),
        (true, false),
        "strict mode clears it"
    );
}

#[test]
fn track_proxyd_yaml_equals_keepalived_conf() {
    let yaml = "track_proxyds:\n  - name: px\n    pid_file: /run/p.pid\n    require_serving: true\n    \
                interval: 2\n    weight: -5\n    reverse: true\nvrrp_instances:\n  - name: VI_1\n    \
                virtual_router_id: 51\n    virtual_ipaddress: [192.0.2.100]\n    track_proxyd: [px]\n";
    let conf = "track_proxyd px {\n pid_file /run/p.pid\n require_serving\n interval 2\n weight -5 \
                reverse\n}\nvrrp_instance VI_1 {\n virtual_router_id 51\n virtual_ipaddress {\n  \
                192.0.2.100\n }\n track_proxyd {\n  px\n }\n}\n";
    let (y, yd) = parse(yaml);
    let (k, kd) = lbcore::config::keepalived::parse_str(conf, Path::new("t.conf"));
    let (y, k) = (
        y.unwrap_or_else(|| panic!("{yd}")),
        k.unwrap_or_else(|| panic!("{kd}")),
    );
    assert_eq!(y.without_spans(), k.without_spans());
    let px = &y.track_proxyds["px"];
    assert_eq!(px.timeout, Duration::from_secs(1));
    assert!(px.require_serving && px.weight.reverse);
    let (c, d) = parse("track_proxyds:\n  - name: px\n    pid_fille: /x\n");
    assert!(c.is_none());
    let l = lines(&d);
    assert!(
        l.iter()
            .any(|l| l.starts_with("t.yaml:3:5: error:") && l.contains("pid_fille")),
        "{l:?}"
    );
}
