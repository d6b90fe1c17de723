//! The Debian packages (issue 7): `cargo deb` builds `proxyd` and `vrrpd`; their contents,
//! conffiles and control fields are checked, lintian must report no error and no unexplained
//! warning, and both are installed with dpkg into a throwaway copy of this machine's root.
//!
//! The throwaway root is an overlay over `/` mounted in private mount and PID namespaces
//! (`unshare`), with fresh `/proc`, `/run` and `/tmp` and a `policy-rc.d` that forbids starting
//! services, so nothing dpkg or the maintainer scripts do reaches the real system (where
//! keepalived is installed, as tests/run does, its replacement is exercised too). There the
//! installed binaries check the installed configurations (proxyd as the `proxyd` user the
//! postinst created), `keepalived` is vrrpd, the tmpfiles links resolve, the units pass
//! `systemd-analyze verify` and score what docs/install.md says, and a reinstall and a purge run
//! the maintainer scripts.
//!
//! A second throwaway root is then booted with systemd-nspawn (`--private-network`: a network
//! namespace holding only a veth pair, so no packet leaves it): the hardened units start the
//! daemons with exactly the capabilities docs/install.md lists, vrrpd takes the VIP, survives
//! its watchdog, answers keepalived's JSON signal through the /tmp link, sees proxyd stop through
//! the `proxyd` group the drop-in gives it, and both units reload (an invalid file fails the
//! reload) and stop cleanly.
//!
//! Needs root (mounts) and the tools tests/run installs (cargo-deb, dpkg-dev, lintian, systemd,
//! systemd-container, util-linux, man-db): skips loudly without them, fails under CI=true. The
//! release build is incremental: with fresh binaries in target/release it costs nothing.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use system_tests::{is_ci, poll};

/// The two packages, with the file each ships from the repository as its default configuration.
const PACKAGES: [(&str, &str, &str); 2] = [
    (
        "proxyd",
        "/etc/proxyd/haproxy.cfg",
        "etc/proxyd/haproxy.cfg",
    ),
    (
        "vrrpd",
        "/etc/keepalived/keepalived.conf",
        "deploy/debian/keepalived.conf",
    ),
];
/// Exposure goals of issue 7 (`systemd-analyze security`).
const GOALS: [(&str, f64); 2] = [("proxyd", 2.5), ("vrrpd", 4.5)];
/// The release build of both daemons from nothing takes minutes on two cores.
const BUILD_LIMIT: Duration = Duration::from_secs(45 * 60);
/// Everything else (packaging, lintian, the throwaway install) takes seconds to a minute.
const STEP_LIMIT: Duration = Duration::from_secs(5 * 60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Output of a finished command.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion within `limit` (killed after it), capturing its output.
fn run(cmd: &mut Command, limit: Duration) -> Result<Out> {
    let shown = format!("{cmd:?}");
    let dir = tempdir("out")?;
    let (o, e) = (dir.0.join("stdout"), dir.0.join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&o)?)
        .stderr(fs::File::create(&e)?)
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let start = poll::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{shown} did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| -> Result<String> {
        let mut s = String::new();
        fs::File::open(p)?.read_to_string(&mut s)?;
        Ok(s)
    };
    Ok(Out {
        code: status.code(),
        stdout: read(&o)?,
        stderr: read(&e)?,
    })
}

/// Runs `cmd` and requires exit status 0; returns its stdout.
fn run_ok(cmd: &mut Command, limit: Duration) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = run(cmd, limit)?;
    ensure!(
        out.code == Some(0),
        "{shown} exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    Ok(out.stdout)
}

/// A directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tempdir(what: &str) -> Result<TempDir> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!(
        "lbpair-packaging-{}-{what}-{n}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&p);
    fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    Ok(TempDir(p))
}

/// True when this test may run: root, and every tool it drives is present. Otherwise prints a
/// loud SKIPPED line, or panics under CI=true (tests/run installs all of them there).
fn may_run() -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (mount and PID namespaces for the throwaway install)".to_string());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tools: [(&str, &[&str]); 9] = [
        (&cargo, &["deb", "--version"]),
        ("dpkg-deb", &["--version"]),
        ("dpkg-shlibdeps", &["--version"]),
        ("lintian", &["--version"]),
        ("systemd-analyze", &["--version"]),
        ("unshare", &["--version"]),
        ("setpriv", &["--version"]),
        ("man", &["--version"]),
        ("systemd-nspawn", &["--version"]),
    ];
    for (tool, args) in tools {
        let ok = Command::new(tool)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            missing.push(format!("{tool} {}", args.join(" ")));
        }
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        !is_ci(),
        "packaging: missing {missing:?}; tests/run installs them and CI=true forbids skipping"
    );
    eprintln!(
        "\n!!!!! packaging: SKIPPED (missing: {}) !!!!!\n",
        missing.join(", ")
    );
    false
}

/// One entry of `dpkg-deb -c`: mode string, owner, and the link target of a symlink.
#[derive(Debug)]
struct Entry {
    mode: String,
    owner: String,
    link: Option<String>,
}

fn contents(deb: &Path) -> Result<BTreeMap<String, Entry>> {
    let listing = run_ok(Command::new("dpkg-deb").arg("-c").arg(deb), STEP_LIMIT)?;
    let mut map = BTreeMap::new();
    for line in listing.lines() {
        // drwxr-xr-x 0/0  0 2026-11-24 00:00 ./usr/   (symlinks end with "-> TARGET")
        let f: Vec<&str> = line.split_whitespace().collect();
        ensure!(f.len() >= 6, "unexpected dpkg-deb -c line: {line}");
        let path = f[5].trim_end_matches('/').to_string();
        let link = (f.len() == 8 && f[6] == "->").then(|| f[7].to_string());
        map.insert(
            path,
            Entry {
                mode: f[0].to_string(),
                owner: f[1].to_string(),
                link,
            },
        );
    }
    Ok(map)
}

fn field(deb: &Path, name: &str) -> Result<String> {
    Ok(run_ok(
        Command::new("dpkg-deb").arg("-f").arg(deb).arg(name),
        STEP_LIMIT,
    )?
    .trim()
    .to_string())
}

/// (path, mode) of a file, or (path, link target) of a symlink.
type Expected = Vec<(String, &'static str)>;

/// The files each package must ship: (path, mode) for files, (path, target) for links.
fn expected_files(pkg: &str) -> (Expected, Expected) {
    let doc = format!("./usr/share/doc/{pkg}");
    let mut files = vec![
        (format!("./usr/sbin/{pkg}"), "-rwxr-xr-x"),
        (
            format!("./usr/lib/systemd/system/{pkg}.service"),
            "-rw-r--r--",
        ),
        (format!("./usr/share/man/man8/{pkg}.8.gz"), "-rw-r--r--"),
        (format!("{doc}/copyright"), "-rw-r--r--"),
        (format!("{doc}/changelog.Debian.gz"), "-rw-r--r--"),
        (format!("{doc}/install.md"), "-rw-r--r--"),
        (format!("{doc}/{pkg}.md"), "-rw-r--r--"),
        (format!("{doc}/configuration-{pkg}.md"), "-rw-r--r--"),
        (format!("{doc}/operations.md"), "-rw-r--r--"),
        (format!("./usr/share/lintian/overrides/{pkg}"), "-rw-r--r--"),
    ];
    let mut links = Vec::new();
    if pkg == "proxyd" {
        files.extend([
            ("./etc/proxyd/haproxy.cfg".to_string(), "-rw-r--r--"),
            ("./usr/lib/sysusers.d/proxyd.conf".into(), "-rw-r--r--"),
            (
                "./usr/lib/systemd/system/vrrpd.service.d/proxyd.conf".into(),
                "-rw-r--r--",
            ),
            ("./usr/share/man/man5/proxyd.cfg.5.gz".into(), "-rw-r--r--"),
            (format!("{doc}/examples/proxyd.yaml"), "-rw-r--r--"),
        ]);
    } else {
        files.extend([
            ("./etc/keepalived/keepalived.conf".to_string(), "-rw-r--r--"),
            ("./usr/lib/tmpfiles.d/vrrpd.conf".into(), "-rw-r--r--"),
            ("./usr/share/man/man5/vrrpd.conf.5.gz".into(), "-rw-r--r--"),
            (format!("{doc}/examples/lb1.conf"), "-rw-r--r--"),
            (format!("{doc}/examples/lb2.conf"), "-rw-r--r--"),
            (format!("{doc}/examples/lb1.yaml"), "-rw-r--r--"),
        ]);
        links.extend([
            ("./usr/sbin/keepalived".to_string(), "vrrpd"),
            ("./usr/share/man/man8/keepalived.8.gz".into(), "vrrpd.8.gz"),
        ]);
    }
    (files, links)
}

fn check_contents(pkg: &str, deb: &Path) -> Result<()> {
    let listing = contents(deb)?;
    let (files, links) = expected_files(pkg);
    for (path, mode) in &files {
        let e = listing
            .get(path)
            .with_context(|| format!("{pkg}: {path} missing from the package"))?;
        ensure!(
            &e.mode == mode && e.owner == "0/0",
            "{pkg}: {path} is {} {} (want {mode} 0/0)",
            e.mode,
            e.owner
        );
    }
    for (path, target) in &links {
        let e = listing
            .get(path)
            .with_context(|| format!("{pkg}: link {path} missing"))?;
        ensure!(
            e.mode.starts_with('l') && e.link.as_deref() == Some(*target),
            "{pkg}: {path} is {:?} -> {:?}, want a link to {target}",
            e.mode,
            e.link
        );
    }
    for (path, e) in &listing {
        // Only /etc and /usr: no /lib, /var, /run or /tmp content the package would own.
        ensure!(
            path == "." || path.starts_with("./etc") || path.starts_with("./usr"),
            "{pkg}: unexpected path {path} ({e:?})"
        );
        // The debug line tables split out of the binary, and nothing else under /usr/lib/debug.
        if path.starts_with("./usr/lib/debug/.build-id/") && e.mode.starts_with('-') {
            ensure!(path.ends_with(".debug"), "{pkg}: unexpected {path}");
        }
    }
    ensure!(
        listing
            .keys()
            .any(|p| p.starts_with("./usr/lib/debug/.build-id/") && p.ends_with(".debug")),
        "{pkg}: the split debug file is missing"
    );
    let conffiles = run_ok(
        Command::new("dpkg-deb").arg("-I").arg(deb).arg("conffiles"),
        STEP_LIMIT,
    )?;
    let (_, conffile, _) = PACKAGES.iter().find(|p| p.0 == pkg).expect("known package");
    ensure!(
        conffiles.trim() == *conffile,
        "{pkg}: conffiles are {conffiles:?}, want {conffile}"
    );
    Ok(())
}

fn check_fields(pkg: &str, deb: &Path, root: &Path) -> Result<()> {
    let version = format!("{}-1", env!("CARGO_PKG_VERSION"));
    ensure!(field(deb, "Package")? == pkg, "{pkg}: Package field");
    ensure!(
        field(deb, "Version")? == version,
        "{pkg}: Version {} (want {version})",
        field(deb, "Version")?
    );
    let changelog = fs::read_to_string(root.join(format!("deploy/debian/{pkg}/changelog")))?;
    ensure!(
        changelog.starts_with(&format!("{pkg} ({version}) ")),
        "{pkg}: deploy/debian/{pkg}/changelog does not start with version {version}: bump it \
         with the workspace version"
    );
    let arch = run_ok(Command::new("dpkg").arg("--print-architecture"), STEP_LIMIT)?;
    ensure!(
        field(deb, "Architecture")? == arch.trim(),
        "{pkg}: Architecture"
    );
    ensure!(field(deb, "Section")? == "net", "{pkg}: Section");
    ensure!(field(deb, "Priority")? == "optional", "{pkg}: Priority");
    ensure!(
        field(deb, "Maintainer")?.contains('<'),
        "{pkg}: Maintainer needs an address"
    );
    let depends = field(deb, "Depends")?;
    ensure!(
        depends.contains("libc6"),
        "{pkg}: Depends {depends:?} lacks libc6"
    );
    let relations = ["Provides", "Conflicts", "Replaces"];
    if pkg == "vrrpd" {
        ensure!(
            depends.contains("systemd | systemd-tmpfiles"),
            "vrrpd: Depends {depends:?}"
        );
        for r in relations {
            ensure!(
                field(deb, r)? == "keepalived",
                "vrrpd: {r} must be keepalived"
            );
        }
    } else {
        ensure!(
            depends.contains("systemd | systemd-sysusers"),
            "proxyd: Depends {depends:?}"
        );
        // proxyd installs next to haproxy (rollback stays one `systemctl` away).
        for r in relations {
            ensure!(field(deb, r)?.is_empty(), "proxyd: unexpected {r}");
        }
    }
    Ok(())
}

/// lintian: no error, and every warning and every override is explained in docs/install.md.
fn check_lintian(debs: &[PathBuf], root: &Path) -> Result<String> {
    let out = run(
        Command::new("lintian")
            .args(["--display-info", "--fail-on", "error"])
            .args(debs),
        STEP_LIMIT,
    )?;
    let install_md = fs::read_to_string(root.join("docs/install.md"))?;
    let mut problems = Vec::new();
    for line in out.stdout.lines() {
        // "E: vrrpd: tag [context]" / "W: ..." / "I: ..."
        let mut words = line.split_whitespace();
        let (Some(kind), Some(_pkg), Some(tag)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        match kind {
            "E:" => problems.push(format!("lintian error: {line}")),
            "W:" if !install_md.contains(tag) => problems.push(format!(
                "lintian warning not explained in docs/install.md: {line}"
            )),
            _ => {}
        }
    }
    ensure!(
        out.code == Some(0) && problems.is_empty(),
        "lintian exited {:?}:\n{}\n--- output\n{}{}",
        out.code,
        problems.join("\n"),
        out.stdout,
        out.stderr
    );
    for (pkg, _, _) in PACKAGES {
        let overrides =
            fs::read_to_string(root.join(format!("deploy/debian/{pkg}/lintian-overrides")))?;
        for line in overrides
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let tag = line
                .split_whitespace()
                .nth(1)
                .with_context(|| format!("override line {line:?}"))?;
            ensure!(
                install_md.contains(&format!("`{tag}")),
                "{pkg}: lintian override {tag} is not explained in docs/install.md"
            );
        }
    }
    Ok(out.stdout)
}

/// Runs inside the private namespaces: mounts the overlay, then either runs `inside.sh` chrooted
/// (`chroot`), or installs the packages with `boot-setup.sh` and boots the root with
/// systemd-nspawn in a private network namespace (`boot`), bounded by `timeout`.
const OUTSIDE_SH: &str = r#"set -eu
W=$1
MODE=$2
# This PID namespace's own /proc (nspawn looks itself up there).
mount -t proc proc /proc
mount -t tmpfs lbpair-packaging "$W/t"
mkdir "$W/t/upper" "$W/t/work" "$W/t/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/t/upper,workdir=$W/t/work" "$W/t/root"
R=$W/t/root
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/run"
mount -t tmpfs tmpfs "$R/tmp"
mkdir -p "$R/lbpair-pkg" "$R/lbpair-out"
mount --bind "$W/pkg" "$R/lbpair-pkg"
mount --bind "$W/out" "$R/lbpair-out"
if [ "$MODE" = chroot ]; then
    exec chroot "$R" /bin/bash /lbpair-pkg/inside.sh
fi
chroot "$R" /bin/bash /lbpair-pkg/boot-setup.sh >"$W/out/setup.log" 2>&1
umount -l "$R/lbpair-out" "$R/lbpair-pkg" "$R/tmp" "$R/run" "$R/dev" "$R/proc"
rm -f "$R/etc/machine-id"
systemd-machine-id-setup --root="$R" >/dev/null
# nspawn keeps state under /run/systemd/nspawn: a private /run keeps it off the real one.
mount -t tmpfs tmpfs /run
exec timeout --kill-after=10 240 systemd-nspawn --quiet --register=no --keep-unit \
    --directory="$R" --private-network \
    --bind="$W/pkg:/lbpair-pkg" --bind="$W/out:/lbpair-out" --boot >"$W/out/boot.log" 2>&1
"#;

/// Chrooted, before the boot: installs both packages (keepalived goes, as in the in-place
/// replacement), a keepalived.conf for a veth `eth0` inside the container with `track_proxyd`,
/// and the units that create `eth0` and run `boot-check.sh`, powering off when it ends.
const BOOT_SETUP_SH: &str = r#"set -eux
export PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
rm -f /var/lib/man-db/auto-update
dpkg -i --force-confold /lbpair-pkg/proxyd.deb /lbpair-pkg/vrrpd.deb
rm /usr/sbin/policy-rc.d
cp /lbpair-pkg/boot.conf /etc/keepalived/keepalived.conf
cat >/etc/systemd/system/lbpair-eth0.service <<'UNIT'
[Unit]
Description=veth eth0 for the packaging test (container network namespace only)
Before=vrrpd.service proxyd.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip link add eth0 type veth peer name eth1
ExecStart=/usr/sbin/ip link set eth1 up
ExecStart=/usr/sbin/ip link set eth0 up
ExecStart=/usr/sbin/ip addr add 192.0.2.11/24 dev eth0
UNIT
cat >/etc/systemd/system/lbpair-check.service <<'UNIT'
[Unit]
Description=packaging test checks
After=proxyd.service vrrpd.service lbpair-eth0.service
[Service]
Type=oneshot
TimeoutStartSec=180
ExecStart=/bin/bash /lbpair-pkg/boot-check.sh
# Powers off however the checks end (SuccessAction=poweroff-force halts instead in nspawn).
ExecStopPost=/usr/bin/systemctl --no-block poweroff
UNIT
# Boot to a target with only what the test needs: services this machine has enabled (an
# haproxy, a database) must not start in the copy and take ports or time.
cat >/etc/systemd/system/lbpair.target <<'UNIT'
[Unit]
Description=packaging test
Requires=basic.target
After=basic.target
Wants=lbpair-eth0.service proxyd.service vrrpd.service lbpair-check.service
UNIT
systemctl set-default lbpair.target
test "$(systemctl is-enabled proxyd.service vrrpd.service)" = "enabled
enabled"
"#;

/// vrrpd's configuration in the booted container: the seed's instance on the veth, proxyd
/// tracked natively (weight 0: proxyd gone means FAULT), no mail.
const BOOT_CONF: &str = r#"vrrp_instance VI_1 {
    interface eth0
    state MASTER
    priority 101
    virtual_router_id 51
    authentication {
        auth_type PASS
        auth_pass somepass
    }
    virtual_ipaddress {
        192.0.2.100
    }
    track_proxyd {
        proxyd
    }
}
track_proxyd proxyd {
}
"#;

/// Runs in the booted container as lbpair-check.service. Steps record their output and exit code
/// in /lbpair-out; every wait is a bounded poll.
const BOOT_CHECK_SH: &str = r#"set -u
O=/lbpair-out
step() { n=$1; shift; "$@" >"$O/$n.out" 2>"$O/$n.err"; echo $? >"$O/$n.rc"; }
# wait NAME SECONDS CMD...: polls CMD every 100 ms; records ok or timeout.
wait_for() {
    n=$1; s=$2; shift 2; i=0
    while [ "$i" -lt $((s * 10)) ]; do
        if "$@" >/dev/null 2>&1; then echo 0 >"$O/$n.rc"; : >"$O/$n.out"; : >"$O/$n.err"; return; fi
        sleep 0.1; i=$((i + 1))
    done
    echo 124 >"$O/$n.rc"; : >"$O/$n.out"; echo "timed out after ${s}s: $*" >"$O/$n.err"
}
state() { vrrpd status | grep -Eq "^VI_1 .* $1 "; }
caps() { grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "/proc/$(systemctl show -p MainPID --value "$1")/status"; }
wait_for active 60 systemctl is-active --quiet proxyd.service vrrpd.service
wait_for master 20 state MASTER
step vip ip -br addr show dev eth0
step others sh -c 'systemctl list-units --type=service --state=running --no-legend --plain | cut -d" " -f1'
step caps_proxyd caps proxyd
step caps_vrrpd caps vrrpd
step user_proxyd ps -o user= -p "$(systemctl show -p MainPID --value proxyd)"
step json_signal sh -c 'kill -s "$(keepalived --signum=JSON)" "$(cat /run/keepalived.pid)"'
wait_for json 5 test -s /tmp/keepalived.json
step json cat /tmp/keepalived.json
# Past WatchdogSec=10s: vrrpd must still be the same process (its pings arrive).
sleep 12
step watchdog systemctl show -p NRestarts -p ActiveState vrrpd
step stop_proxyd systemctl stop proxyd
wait_for fault 10 state FAULT
step vip_fault ip -br addr show dev eth0
step start_proxyd systemctl start proxyd
wait_for master_again 20 state MASTER
step reload_proxyd systemctl reload proxyd
step reload_vrrpd systemctl reload vrrpd
cp /etc/proxyd/haproxy.cfg /root/haproxy.cfg.good
echo "no_such_keyword" >>/etc/proxyd/haproxy.cfg
step reload_invalid systemctl reload proxyd
cp /root/haproxy.cfg.good /etc/proxyd/haproxy.cfg
step after systemctl show -p NRestarts -p ActiveState -p SubState proxyd vrrpd
step stop systemctl stop vrrpd proxyd
step result systemctl show -p Result -p ActiveState vrrpd proxyd
journalctl --no-pager -u proxyd -u vrrpd >"$O/journal" 2>&1
echo done >"$O/finished"
"#;

/// Runs chrooted in the throwaway root. Each step's output and exit code land in /lbpair-out for
/// the test to judge; the script itself stops only if its own plumbing fails.
const INSIDE_SH: &str = r#"set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
O=/lbpair-out
P=/lbpair-pkg
step() {
    n=$1; shift; t=$(date +%s%N)
    "$@" >"$O/$n.out" 2>"$O/$n.err"; echo $? >"$O/$n.rc"
    echo "$n $(( ($(date +%s%N) - t) / 1000000 )) ms" >>"$O/times"
}
# man-db's trigger would rebuild the whole manual index after every dpkg run (its switch).
rm -f /var/lib/man-db/auto-update
# No service may start from a maintainer script (there is no systemd here anyway).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
step keepalived_before dpkg-query -W -f='${Status}' keepalived
# The in-place replacement of docs/install.md: the box's own keepalived.conf (box B's) is kept.
mkdir -p /etc/keepalived && cp "$P/lb2.conf" /etc/keepalived/keepalived.conf
step install dpkg -i --force-confold "$P/proxyd.deb" "$P/vrrpd.deb"
step status dpkg-query -W -f='${Package} ${Status}\n' proxyd vrrpd
step keepalived_after dpkg-query -W -f='${Status}' keepalived
step conffiles dpkg-query -W -f='${Conffiles}\n' proxyd vrrpd
step user getent passwd proxyd
step group getent group proxyd
step proxyd_check setpriv --reuid=proxyd --regid=proxyd --clear-groups /usr/sbin/proxyd -c -f /etc/proxyd/haproxy.cfg
step vrrpd_check_kept /usr/sbin/vrrpd -t -f /etc/keepalived/keepalived.conf
step vrrpd_check_default /usr/sbin/vrrpd -t -f /etc/keepalived/keepalived.conf.dpkg-dist
step kept cmp /etc/keepalived/keepalived.conf "$P/lb2.conf"
step dist cmp /etc/keepalived/keepalived.conf.dpkg-dist "$P/keepalived.conf"
step shipped_cfg cmp /etc/proxyd/haproxy.cfg "$P/haproxy.cfg"
step keepalived_v keepalived -v
step signum sh -c 'for s in RELOAD STOP DATA STATS; do keepalived --signum=$s; done'
step which_keepalived readlink -f "$(command -v keepalived)"
step tmpfiles systemd-tmpfiles --create /usr/lib/tmpfiles.d/vrrpd.conf
step links sh -c 'for l in /run/keepalived.pid /run/keepalived_vrrp.pid /tmp/keepalived.data /tmp/keepalived.stats /tmp/keepalived.json; do echo "$l $(readlink "$l")"; done'
step man_keepalived man -w keepalived
step verify systemd-analyze verify /usr/lib/systemd/system/proxyd.service /usr/lib/systemd/system/vrrpd.service
step security_proxyd systemd-analyze security --offline=true /usr/lib/systemd/system/proxyd.service
step security_vrrpd systemd-analyze security --offline=true /usr/lib/systemd/system/vrrpd.service
step reinstall dpkg -i --force-confold "$P/proxyd.deb" "$P/vrrpd.deb"
step kept_after_reinstall cmp /etc/keepalived/keepalived.conf "$P/lb2.conf"
step purge dpkg --purge vrrpd proxyd
step gone sh -c 'for f in /usr/sbin/vrrpd /usr/sbin/keepalived /usr/sbin/proxyd /etc/keepalived/keepalived.conf /etc/proxyd/haproxy.cfg /usr/lib/systemd/system/proxyd.service; do if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done'
step user_after_purge getent passwd proxyd
echo done >"$O/finished"
"#;

/// The result of one step of `INSIDE_SH`.
struct Step {
    rc: i32,
    out: String,
    err: String,
}

fn step(out: &Path, name: &str) -> Result<Step> {
    let read = |ext: &str| fs::read_to_string(out.join(format!("{name}.{ext}")));
    let rc = read("rc")
        .with_context(|| format!("step {name} did not run"))?
        .trim()
        .parse()
        .with_context(|| format!("step {name}: exit code"))?;
    Ok(Step {
        rc,
        out: read("out")?,
        err: read("err")?,
    })
}

fn step_ok(out: &Path, name: &str) -> Result<Step> {
    let s = step(out, name)?;
    ensure!(
        s.rc == 0,
        "step {name} exited {}\n--- stdout\n{}\n--- stderr\n{}",
        s.rc,
        s.out,
        s.err
    );
    Ok(s)
}

/// "→ Overall exposure level for proxyd.service: 1.4 OK 🙂" -> 1.4
fn exposure(text: &str, unit: &str) -> Result<f64> {
    let marker = format!("Overall exposure level for {unit}.service: ");
    let rest = text
        .split(&marker)
        .nth(1)
        .with_context(|| format!("no exposure line for {unit} in:\n{text}"))?;
    let figure = rest.split_whitespace().next().unwrap_or_default();
    figure
        .parse()
        .with_context(|| format!("exposure {figure:?} for {unit}"))
}

fn check_installed(out: &Path, root: &Path) -> Result<()> {
    ensure!(
        out.join("finished").exists(),
        "the install script did not finish"
    );
    step_ok(out, "install")?;
    let status = step_ok(out, "status")?.out;
    for pkg in ["proxyd", "vrrpd"] {
        ensure!(
            status.contains(&format!("{pkg} install ok installed")),
            "dpkg status:\n{status}"
        );
    }
    // keepalived, where it was installed, is removed in favour of vrrpd (Conflicts + Replaces).
    let before = step(out, "keepalived_before")?;
    if before.out.contains("install ok installed") {
        let after = step(out, "keepalived_after")?.out;
        ensure!(
            !after.contains("install ok installed"),
            "keepalived still installed next to vrrpd: {after}"
        );
    } else {
        eprintln!(
            "packaging: keepalived not installed here; its in-place replacement not exercised"
        );
    }
    let conffiles = step_ok(out, "conffiles")?.out;
    for (_, conffile, _) in PACKAGES {
        ensure!(conffiles.contains(conffile), "conffiles:\n{conffiles}");
    }
    let user = step_ok(out, "user")?.out;
    ensure!(
        user.trim_end().ends_with(":/nonexistent:/usr/sbin/nologin"),
        "proxyd user: {user}"
    );
    step_ok(out, "group")?;
    let check = step_ok(out, "proxyd_check")?;
    ensure!(
        check.out.contains("Configuration file is valid"),
        "proxyd -c: {}{}",
        check.out,
        check.err
    );
    step_ok(out, "vrrpd_check_kept")?;
    step_ok(out, "vrrpd_check_default")?;
    step_ok(out, "kept").context("the box's own keepalived.conf was not kept")?;
    step_ok(out, "dist").context("keepalived.conf.dpkg-dist is not the shipped sample")?;
    step_ok(out, "shipped_cfg")?;
    let version = step_ok(out, "keepalived_v")?;
    // keepalived's shape (the release vrrpd follows, then vrrpd's own version), so exporters
    // reading `keepalived -v` pick the right signals.
    ensure!(
        version.err.starts_with("Keepalived v2.2.7 (vrrpd ")
            && version
                .err
                .contains(&format!("vrrpd {}", env!("CARGO_PKG_VERSION"))),
        "keepalived -v printed {:?} on stderr",
        version.err
    );
    let signums: Vec<String> = step_ok(out, "signum")?
        .out
        .lines()
        .map(str::to_string)
        .collect();
    ensure!(
        signums == ["1", "15", "10", "12"],
        "keepalived --signum: {signums:?}"
    );
    let target = step_ok(out, "which_keepalived")?.out;
    ensure!(
        target.trim() == "/usr/sbin/vrrpd",
        "keepalived resolves to {target}"
    );
    step_ok(out, "tmpfiles")?;
    let links = step_ok(out, "links")?.out;
    for (link, target) in [
        ("/run/keepalived.pid", "/run/vrrpd/keepalived.pid"),
        ("/run/keepalived_vrrp.pid", "/run/vrrpd/keepalived_vrrp.pid"),
        ("/tmp/keepalived.data", "/run/vrrpd/keepalived.data"),
        ("/tmp/keepalived.stats", "/run/vrrpd/keepalived.stats"),
        ("/tmp/keepalived.json", "/run/vrrpd/keepalived.json"),
    ] {
        ensure!(
            links.lines().any(|l| l == format!("{link} {target}")),
            "tmpfiles link {link} -> {target} missing:\n{links}"
        );
    }
    let man = step_ok(out, "man_keepalived")?.out;
    // man follows the link: keepalived(8) is vrrpd(8).
    ensure!(
        man.trim().ends_with("/man8/vrrpd.8.gz"),
        "man -w keepalived: {man}"
    );
    let verify = step_ok(out, "verify")?;
    ensure!(
        verify.out.trim().is_empty() && verify.err.trim().is_empty(),
        "systemd-analyze verify is not clean:\n{}{}",
        verify.out,
        verify.err
    );
    let install_md = fs::read_to_string(root.join("docs/install.md"))?;
    for (unit, goal) in GOALS {
        let s = step_ok(out, &format!("security_{unit}"))?;
        let score = exposure(&format!("{}{}", s.out, s.err), unit)?;
        ensure!(
            score <= goal,
            "{unit}.service exposure {score} above the goal {goal}"
        );
        let documented = format!("| {unit}.service | {score:.1} OK |");
        ensure!(
            install_md.contains(&documented),
            "docs/install.md does not record {unit}.service's exposure {score:.1} \
             (want the row {documented:?})"
        );
    }
    step_ok(out, "reinstall")?;
    step_ok(out, "kept_after_reinstall")?;
    step_ok(out, "purge")?;
    let left = step_ok(out, "gone")?.out;
    ensure!(left.trim().is_empty(), "left after purge:\n{left}");
    step_ok(out, "user_after_purge").context("the proxyd system user must survive a purge")?;
    eprintln!(
        "packaging: throwaway root steps:\n{}",
        fs::read_to_string(out.join("times"))?
    );
    Ok(())
}

/// Installs, checks, reinstalls and purges both packages in the throwaway root.
fn throwaway_install(debs: &BTreeMap<&str, PathBuf>, root: &Path) -> Result<()> {
    let w = tempdir("root")?;
    for d in ["t", "pkg", "out"] {
        fs::create_dir(w.0.join(d))?;
    }
    let pkg = w.0.join("pkg");
    for (name, deb) in debs {
        fs::copy(deb, pkg.join(format!("{name}.deb")))?;
    }
    fs::copy(root.join("etc/keepalived/lb2.conf"), pkg.join("lb2.conf"))?;
    fs::copy(
        root.join("deploy/debian/keepalived.conf"),
        pkg.join("keepalived.conf"),
    )?;
    fs::copy(root.join("etc/proxyd/haproxy.cfg"), pkg.join("haproxy.cfg"))?;
    fs::write(pkg.join("inside.sh"), INSIDE_SH)?;
    let out = run(
        Command::new("unshare")
            .args(["--mount", "--pid", "--fork", "--propagation", "private"])
            .args(["bash", "-c", OUTSIDE_SH, "outside"])
            .arg(&w.0)
            .arg("chroot"),
        STEP_LIMIT,
    )?;
    ensure!(
        out.code == Some(0),
        "throwaway root failed ({:?}):\n{}{}",
        out.code,
        out.stdout,
        out.stderr
    );
    check_installed(&w.0.join("out"), root)
}

/// Boots the throwaway root with both packages installed and checks the units at run time.
fn boot(debs: &BTreeMap<&str, PathBuf>) -> Result<()> {
    let w = tempdir("boot")?;
    for d in ["t", "pkg", "out"] {
        fs::create_dir(w.0.join(d))?;
    }
    let pkg = w.0.join("pkg");
    for (name, deb) in debs {
        fs::copy(deb, pkg.join(format!("{name}.deb")))?;
    }
    fs::write(pkg.join("boot-setup.sh"), BOOT_SETUP_SH)?;
    fs::write(pkg.join("boot-check.sh"), BOOT_CHECK_SH)?;
    fs::write(pkg.join("boot.conf"), BOOT_CONF)?;
    let out = run(
        Command::new("unshare")
            .args(["--mount", "--pid", "--fork", "--propagation", "private"])
            .args(["bash", "-c", OUTSIDE_SH, "outside"])
            .arg(&w.0)
            .arg("boot"),
        STEP_LIMIT,
    )?;
    let o = w.0.join("out");
    let log = |f: &str| fs::read_to_string(o.join(f)).unwrap_or_default();
    ensure!(
        o.join("finished").exists() && out.code == Some(0),
        "the booted container did not finish its checks and power off (exit {:?}):\n{}{}\n--- setup\n{}\n--- boot\n{}\n--- journal\n{}",
        out.code,
        out.stdout,
        out.stderr,
        log("setup.log"),
        log("boot.log"),
        log("journal")
    );
    let judged = check_booted(&o);
    if judged.is_err() {
        eprintln!("--- journal of the booted container\n{}", log("journal"));
    }
    judged
}

/// `Field:\tvalue` lines of /proc/PID/status.
fn proc_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn check_booted(o: &Path) -> Result<()> {
    step_ok(o, "active").context("proxyd and vrrpd did not both become active")?;
    step_ok(o, "master").context("vrrpd did not become master")?;
    let vip = step_ok(o, "vip")?.out;
    ensure!(
        vip.contains("192.0.2.100/32"),
        "the VIP is not on eth0: {vip}"
    );
    let others = step_ok(o, "others")?.out;
    ensure!(
        others.lines().any(|l| l == "proxyd.service")
            && others.lines().any(|l| l == "vrrpd.service")
            && !others.contains("haproxy")
            && !others.contains("keepalived"),
        "running services in the container: {others}"
    );
    // proxyd: its own user, CAP_NET_BIND_SERVICE (bit 10) and nothing else.
    let p = step_ok(o, "caps_proxyd")?.out;
    ensure!(
        step_ok(o, "user_proxyd")?.out.trim() == "proxyd",
        "proxyd does not run as the proxyd user"
    );
    for f in ["CapEff", "CapBnd", "CapAmb"] {
        ensure!(proc_field(&p, f) == "0000000000000400", "proxyd {f}: {p}");
    }
    // vrrpd: CHOWN(0) KILL(5) SETGID(6) SETUID(7) NET_ADMIN(12) NET_RAW(13).
    let v = step_ok(o, "caps_vrrpd")?.out;
    ensure!(
        proc_field(&v, "CapBnd") == "00000000000030e1",
        "vrrpd bounding set: {v}"
    );
    for status in [&p, &v] {
        ensure!(
            proc_field(status, "NoNewPrivs") == "1",
            "NoNewPrivs: {status}"
        );
        ensure!(
            proc_field(status, "Seccomp") == "2",
            "no seccomp filter: {status}"
        );
    }
    step_ok(o, "json_signal")?;
    step_ok(o, "json").context("no /tmp/keepalived.json through the tmpfiles link")?;
    let json = step_ok(o, "json")?.out;
    ensure!(
        json.contains("\"iname\":\"VI_1\""),
        "keepalived.json: {json}"
    );
    let wd = step_ok(o, "watchdog")?.out;
    ensure!(
        wd.contains("NRestarts=0") && wd.contains("ActiveState=active"),
        "vrrpd after WatchdogSec: {wd}"
    );
    step_ok(o, "stop_proxyd")?;
    step_ok(o, "fault")
        .context("vrrpd did not see proxyd stop (track_proxyd through the proxyd group)")?;
    let vip = step_ok(o, "vip_fault")?.out;
    ensure!(
        !vip.contains("192.0.2.100"),
        "the VIP stayed in FAULT: {vip}"
    );
    step_ok(o, "start_proxyd")?;
    step_ok(o, "master_again")?;
    step_ok(o, "reload_proxyd")?;
    step_ok(o, "reload_vrrpd")?;
    let invalid = step(o, "reload_invalid")?;
    ensure!(
        invalid.rc != 0,
        "systemctl reload accepted an invalid haproxy.cfg"
    );
    let after = step_ok(o, "after")?.out;
    ensure!(
        after.matches("ActiveState=active").count() == 2
            && after.matches("NRestarts=0").count() == 2,
        "after the reloads: {after}"
    );
    step_ok(o, "stop")?;
    let result = step_ok(o, "result")?.out;
    ensure!(
        result.matches("Result=success").count() == 2,
        "stop results: {result}"
    );
    Ok(())
}

#[test]
fn packages_build_lint_install_and_verify() -> Result<()> {
    if !may_run() {
        return Ok(());
    }
    let root = workspace();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = poll::now();
    // One build for both (cargo runs them in parallel); a no-op when target/release is fresh.
    run_ok(
        Command::new(&cargo).current_dir(&root).args([
            "build",
            "--release",
            "-p",
            "proxyd",
            "-p",
            "vrrpd",
        ]),
        BUILD_LIMIT,
    )?;
    let built = started.elapsed();
    let outdir = tempdir("debs")?;
    let mut debs = BTreeMap::new();
    for (pkg, _, shipped) in PACKAGES {
        let printed = run_ok(
            Command::new(&cargo)
                .current_dir(&root)
                .args(["deb", "-p", pkg, "--no-build", "--output"])
                .arg(&outdir.0),
            STEP_LIMIT,
        )?;
        let deb = PathBuf::from(printed.lines().last().unwrap_or_default().trim());
        ensure!(
            deb.is_file(),
            "cargo deb -p {pkg} printed {printed:?}, not a .deb path"
        );
        check_contents(pkg, &deb)?;
        check_fields(pkg, &deb, &root)?;
        // What the package installs is what the repository holds.
        let x = tempdir(&format!("x-{pkg}"))?;
        run_ok(
            Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x.0),
            STEP_LIMIT,
        )?;
        let (_, conffile, _) = PACKAGES.iter().find(|p| p.0 == pkg).expect("known");
        for (installed, source) in [
            (conffile.to_string(), shipped.to_string()),
            (
                format!("/usr/lib/systemd/system/{pkg}.service"),
                format!("deploy/systemd/{pkg}.service"),
            ),
        ] {
            let a = fs::read(x.0.join(installed.trim_start_matches('/')))?;
            let b = fs::read(root.join(&source))?;
            ensure!(a == b, "{pkg}: {installed} differs from {source}");
        }
        debs.insert(pkg, deb);
    }
    // The shipped keepalived.conf is the seed's lb1.conf under a header comment, unchanged.
    let sample = fs::read_to_string(root.join("deploy/debian/keepalived.conf"))?;
    let lb1 = fs::read_to_string(root.join("etc/keepalived/lb1.conf"))?;
    ensure!(
        sample.ends_with(&lb1)
            && sample[..sample.len() - lb1.len()]
                .lines()
                .all(|l| l.starts_with('!')),
        "deploy/debian/keepalived.conf must be its `!` header followed by etc/keepalived/lb1.conf \
         unchanged: after editing lb1.conf, keep the header and append the new lb1.conf"
    );
    let packaged = started.elapsed();
    let lint = check_lintian(&debs.values().cloned().collect::<Vec<_>>(), &root)?;
    let linted = started.elapsed();
    throwaway_install(&debs, &root)?;
    let installed = started.elapsed();
    boot(&debs)?;
    eprintln!(
        "packaging: elapsed at the end of each phase: release build {built:?}, cargo deb and \
         checks {packaged:?}, lintian {linted:?}, throwaway install {installed:?}, boot {:?}",
        started.elapsed()
    );
    eprintln!("packaging: lintian:\n{lint}");
    Ok(())
}
