//! Command-line behaviour that needs no root: `-t[=LOG_FILE]` exit codes and diagnostics, exit 64
//! on a bad configuration at startup, refused options, `--signum`, `-v`.

mod common;

use std::process::Command;

use common::{TempDir, VRRPD, seed_conf};

fn vrrpd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(VRRPD).args(args).output().expect("run vrrpd");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_test_accepts_the_seed_and_prints_warnings_with_positions() {
    let dir = TempDir::new("cli-good");
    let conf = dir.write("good.conf", &seed_conf("MASTER", 101, ""));
    let (code, stdout, stderr) = vrrpd(&["-t", "-f", conf.to_str().expect("path")]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    // auth_pass is longer than 8 characters: a warning at its line, not an error.
    let path = conf.display().to_string();
    assert!(
        stderr.contains(&format!("{path}:12:19: warning: truncating auth_pass")),
        "{stderr}"
    );
    assert!(stderr.contains("warning:"), "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");

    // -t=LOG_FILE (keepalived): the diagnostics go to the log file, appended; stderr stays
    // empty. The configuration is still the one of -f.
    let log = dir.path("check.log");
    std::fs::write(&log, "earlier line\n").expect("seed log");
    let log_arg = format!("--config-test={}", log.display());
    let (code, stdout, stderr) = vrrpd(&[&log_arg, "-f", &path]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty() && stderr.is_empty(), "{stdout}{stderr}");
    let logged = std::fs::read_to_string(&log).expect("log file");
    assert!(logged.starts_with("earlier line\n"), "{logged}");
    assert!(
        logged.contains(&format!("{path}:12:19: warning: truncating auth_pass")),
        "{logged}"
    );
    let unwritable = format!("-t={}", dir.path("no/such/dir/x.log").display());
    let (code, _, stderr) = vrrpd(&[&unwritable, "-f", &path]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot open"), "{stderr}");

    // The repository's example configurations in both dialects.
    let etc = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/keepalived");
    for f in ["lb1.conf", "lb2.conf", "lb1.yaml"] {
        let (code, _, stderr) = vrrpd(&["-t", "-f", &format!("{etc}/{f}")]);
        assert_eq!(code, 0, "{f}: {stderr}");
        // Everything in the seed is acted on now (the vrrp_script runs, smtp_alert mails).
        assert!(
            !stderr.contains("is parsed but not acted on"),
            "{f}: {stderr}"
        );
    }
}

#[test]
fn config_test_rejects_bad_files_with_exit_1() {
    let dir = TempDir::new("cli-bad");
    // VRID 0 is out of range (1..255).
    let bad = dir.write(
        "bad.conf",
        &seed_conf("MASTER", 101, "").replace("virtual_router_id 51", "virtual_router_id 0"),
    );
    let (code, _, stderr) = vrrpd(&["-t", "-f", bad.to_str().expect("path")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{}:8:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("error:"), "{stderr}");
    // The same verdict with the diagnostics in a log file.
    let log = dir.path("bad.log");
    let (code, _, stderr) = vrrpd(&[
        &format!("-t={}", log.display()),
        "-f",
        bad.to_str().expect("path"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    let logged = std::fs::read_to_string(&log).expect("log file");
    assert!(
        logged.contains(&format!("{}:8:", bad.display())) && logged.contains("error:"),
        "{logged}"
    );

    let missing = dir.path("missing.conf");
    let (code, _, stderr) = vrrpd(&["-t", "-f", missing.to_str().expect("path")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");

    let yaml = dir.write(
        "bad.yaml",
        "vrrp_instances:\n  - name: VI_1\n    priority: 300\n",
    );
    let (code, _, stderr) = vrrpd(&["-t", "-f", yaml.to_str().expect("path")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
}

#[test]
fn bad_configuration_at_startup_exits_64_before_touching_anything() {
    let dir = TempDir::new("cli-64");
    let bad = dir.write(
        "bad.conf",
        "vrrp_instance VI_1 {\n    virtual_router_id 300\n}\n",
    );
    let pid = dir.path("k.pid");
    let vpid = dir.path("kv.pid");
    let (code, _, stderr) = vrrpd(&[
        "-n",
        "-l",
        "-f",
        bad.to_str().expect("path"),
        "-p",
        pid.to_str().expect("path"),
        "-r",
        vpid.to_str().expect("path"),
    ]);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:", bad.display())),
        "{stderr}"
    );
    assert!(
        !pid.exists() && !vpid.exists(),
        "no pid file may be written for a bad config"
    );
}

#[test]
fn refused_options_signum_and_version() {
    let (code, _, stderr) = vrrpd(&["-C"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no checker"), "{stderr}");
    let (code, _, stderr) = vrrpd(&["-s", "ns1"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("ip netns exec ns1"), "{stderr}");
    assert_eq!(vrrpd(&["--signum=RELOAD"]).1.trim(), "1");
    assert_eq!(vrrpd(&["--signum=STOP"]).1.trim(), "15");
    let (code, _, stderr) = vrrpd(&["-v"]);
    assert_eq!(code, 0);
    // keepalived's shape, so tools reading `keepalived -v` see a version they know.
    assert!(stderr.starts_with("Keepalived v2.2.7 (vrrpd "), "{stderr}");
}
