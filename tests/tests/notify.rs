//! Notifications in the lab (both boxes run vrrpd with the seed's instance plus notify scripts,
//! a notify FIFO and `smtp_alert` towards a real SMTP server, Debian's aiosmtpd, started on box
//! A's LAN address): across the election and a failover (A stopped with SIGTERM), then B
//! stopped:
//! - one mail per transition, with keepalived's subjects (`[lbA] VRRP Instance VI_1 - Entering
//!   MASTER state`, ..., `- Stopping`);
//! - the generic `notify` script ran with keepalived's four arguments, `notify_master` with none;
//! - the FIFO carried keepalived's lines (`INSTANCE "VI_1" MASTER 101`).

use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use system_tests::poll::Stamp;
use system_tests::{Impl, Instance, Lab, Node, root_or_skip};

const SMTP_PORT: u16 = 2525;
/// Start-up slack before the first election (binaries starting in namespaces).
const START: Duration = Duration::from_secs(3);
/// How long a mail may take to arrive after its transition (the mail queue sends at once).
const MAIL_WAIT: Duration = Duration::from_secs(5);

fn conf(instance: &Instance, box_name: &str, dir: &Path) -> String {
    let log = dir.join(format!("{box_name}.log"));
    let script = dir.join("rec.sh");
    let fifo = dir.join(format!("{box_name}.fifo"));
    let global = format!(
        "global_defs {{\n    router_id {box_name}\n    notification_email {{\n        ops@example.com\n    }}\n    \
         notification_email_from vrrp-{box_name}@example.com\n    smtp_server {} {SMTP_PORT}\n    \
         smtp_connect_timeout 3\n    notify_fifo {}\n}}\n",
        Node::A.ip4(),
        fifo.display()
    );
    let inst = instance.render();
    let body = inst.strip_suffix("}\n").unwrap_or(&inst);
    format!(
        "{global}{body}    smtp_alert\n    notify_master \"{s} {l} master\"\n    notify \"{s} {l} generic\"\n}}\n",
        s = script.display(),
        l = log.display()
    )
}

fn subjects(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        .collect()
}

fn read_all(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn drain(f: &mut std::fs::File) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn notify_scripts_fifo_and_one_mail_per_transition_across_a_failover() -> Result<()> {
    if !root_or_skip("notify_scripts_fifo_and_one_mail_per_transition_across_a_failover") {
        return Ok(());
    }
    let lab = Lab::new("notify")?;
    let dir = lab.dir().to_path_buf();
    std::fs::write(
        dir.join("rec.sh"),
        "#!/bin/sh\nlog=$1\ntag=$2\nshift 2\necho \"$tag $*\" >> \"$log\"\n",
    )?;
    std::fs::set_permissions(dir.join("rec.sh"), std::fs::Permissions::from_mode(0o755))?;
    // The FIFOs exist before vrrpd starts (so vrrpd keeps them at exit) and are read here.
    let mut readers = Vec::new();
    for b in ["lbA", "lbB"] {
        let p = dir.join(format!("{b}.fifo"));
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o644))?;
        readers.push(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&p)?,
        );
    }

    let smtpd_argv: Vec<String> = [
        "/usr/bin/python3",
        "-u",
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        &format!("{}:{SMTP_PORT}", Node::A.ip4()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut smtpd = lab.spawn(Node::A, "smtpd", &smtpd_argv)?;
    let smtp_out = dir.join(format!("{}.out", smtpd.name()));
    std::thread::sleep(Duration::from_millis(500));
    smtpd
        .ensure_running()
        .context("aiosmtpd (Debian python3-aiosmtpd) must run")?;

    let (ia, ib) = (Instance::seed(true), Instance::seed(false));
    // A first, so that the election has one outcome (both starting together may both time out
    // and both become master for a moment: real transitions, each with its mail).
    let mut a = lab.start_conf(Node::A, Impl::ours(), &conf(&ia, "lbA", &dir))?;
    let vip = ia.vip();
    lab.wait_sole_holder(Node::A, vip, ia.master_down_interval() + START)?;
    let mut b = lab.start_conf(Node::B, Impl::ours(), &conf(&ib, "lbB", &dir))?;
    b.proc()
        .wait_output("(VI_1) Entering BACKUP STATE", START)?;

    let wait_mail = |want: &str| -> Result<()> {
        let start = Stamp::now();
        loop {
            if subjects(&read_all(&smtp_out)).iter().any(|s| s == want) {
                return Ok(());
            }
            ensure!(
                Stamp::now().since(start) < MAIL_WAIT,
                "no mail {want:?}; received:\n{}",
                read_all(&smtp_out)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_mail("[lbA] VRRP Instance VI_1 - Entering MASTER state")?;
    wait_mail("[lbB] VRRP Instance VI_1 - Entering BACKUP state")?;

    // Failover: A stops (priority 0), B takes over.
    a.sigterm()?;
    lab.wait_sole_holder(Node::B, vip, ib.skew_time() + Duration::from_secs(2))?;
    a.wait_exit(Duration::from_secs(5))?;
    wait_mail("[lbB] VRRP Instance VI_1 - Entering MASTER state")?;
    wait_mail("[lbA] VRRP Instance VI_1 - Stopping")?;
    b.sigterm()?;
    b.wait_exit(Duration::from_secs(5))?;
    wait_mail("[lbB] VRRP Instance VI_1 - Stopping")?;

    // One mail per transition, nothing else.
    let mut got = subjects(&read_all(&smtp_out));
    got.sort();
    let mut want = vec![
        "[lbA] VRRP Instance VI_1 - Entering BACKUP state",
        "[lbA] VRRP Instance VI_1 - Entering MASTER state",
        "[lbA] VRRP Instance VI_1 - Stopping",
        "[lbB] VRRP Instance VI_1 - Entering BACKUP state",
        "[lbB] VRRP Instance VI_1 - Entering MASTER state",
        "[lbB] VRRP Instance VI_1 - Stopping",
    ];
    want.sort_unstable();
    ensure!(
        got == want,
        "mails: {got:#?}\n{}\nA:\n{}\nB:\n{}",
        read_all(&smtp_out),
        a.output(),
        b.output()
    );
    let out = read_all(&smtp_out);
    ensure!(out.contains("X-Mailer: Keepalived"), "{out}");
    ensure!(
        out.contains("=> VRRP Instance is now owning VRRP VIPs <="),
        "{out}"
    );

    // Scripts: the generic one with keepalived's four arguments, notify_master with none. Each
    // box's own order of transitions; the STOP scripts ran before the daemon exited.
    let log_a = read_all(&dir.join("lbA.log"));
    let log_b = read_all(&dir.join("lbB.log"));
    let generic = |log: &str| -> Vec<String> {
        log.lines()
            .filter_map(|l| l.strip_prefix("generic ").map(str::to_string))
            .collect()
    };
    ensure!(
        generic(&log_a)
            == [
                "INSTANCE VI_1 BACKUP 101",
                "INSTANCE VI_1 MASTER 101",
                "INSTANCE VI_1 STOP 101"
            ],
        "A's generic notify: {log_a}"
    );
    ensure!(
        generic(&log_b)
            == [
                "INSTANCE VI_1 BACKUP 100",
                "INSTANCE VI_1 MASTER 100",
                "INSTANCE VI_1 STOP 100"
            ],
        "B's generic notify: {log_b}"
    );
    for (name, log) in [("A", &log_a), ("B", &log_b)] {
        let masters: Vec<_> = log.lines().filter(|l| l.starts_with("master")).collect();
        ensure!(masters == ["master "], "{name}'s notify_master: {log}");
    }

    // FIFO lines, in order.
    let fifo_a = drain(&mut readers[0]);
    let fifo_b = drain(&mut readers[1]);
    ensure!(
        fifo_a
            == "INSTANCE \"VI_1\" BACKUP 101\nINSTANCE \"VI_1\" MASTER 101\nINSTANCE \"VI_1\" STOP 101\n",
        "A's fifo: {fifo_a:?}"
    );
    ensure!(
        fifo_b
            == "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" STOP 100\n",
        "B's fifo: {fifo_b:?}"
    );
    Ok(())
}
