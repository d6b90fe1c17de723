//! The proxyd binary's `-c` check mode and startup on a bad configuration.

use std::process::Command;

fn proxyd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_proxyd"))
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// `proxyd -c -f REL` exits 0.
fn assert_check_passes(rel: &str) {
    let out = proxyd()
        .arg("-c")
        .arg("-f")
        .arg(repo_file(rel))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_accepts_the_shipped_exchange_config() {
    assert_check_passes("etc/proxyd/haproxy.cfg");
}

fn broken_file() -> tempfile_path::TempFile {
    tempfile_path::TempFile::new(
        "broken.cfg",
        "defaults\n mode tcp\nlisten x\n bind 127.0.0.1:0\n balance nonsense\n use_backend nowhere\n server a 127.0.0.1:1\n",
    )
}

#[test]
fn check_rejects_a_broken_file_with_located_errors() {
    let f = broken_file();
    let out = proxyd().arg("-c").arg("-f").arg(&f.path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.cfg:5:"), "{err}");
    assert!(err.contains("error"), "{err}");
}

#[test]
fn startup_with_a_broken_file_exits_64_before_serving() {
    let f = broken_file();
    let out = proxyd().arg("-db").arg("-f").arg(&f.path).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn version_and_missing_file() {
    let out = proxyd().arg("-v").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("proxyd"));
    let out = proxyd()
        .arg("-c")
        .arg("-f")
        .arg("/nonexistent/proxyd.cfg")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

mod tempfile_path {
    /// A file in a fresh per-test directory, removed on drop.
    pub struct TempFile {
        pub path: std::path::PathBuf,
        dir: std::path::PathBuf,
    }

    impl TempFile {
        pub fn new(name: &str, text: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "proxyd-cli-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            TempFile { path, dir }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[test]
fn pid_file_then_sigterm_stops_the_daemon() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = tempfile_path::TempFile::new(
        "run.cfg",
        &format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\nlisten x\n bind 127.0.0.1:{port}\n server a {}\n",
            backend.local_addr().unwrap()
        ),
    );
    let pidfile = cfg.path.with_file_name("proxyd.pid");
    let mut child = proxyd()
        .arg("-db")
        .arg("-p")
        .arg(&pidfile)
        .arg("-f")
        .arg(&cfg.path)
        .spawn()
        .unwrap();
    let mut pid = None;
    for _ in 0..100 {
        if let Ok(t) = std::fs::read_to_string(&pidfile)
            && !t.is_empty()
        {
            pid = Some(t.trim().to_owned());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = pid.expect("pid file never written");
    assert_eq!(pid, child.id().to_string());
    // The listener relays to the backend.
    let mut served = false;
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            served = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(served);
    backend.set_nonblocking(false).unwrap();
    let _accepted = backend.accept().unwrap();
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(&pid)
        .status()
        .unwrap();
    assert!(st.success());
    let mut code = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            code = s.code();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if code.is_none() {
        let _ = child.kill();
    }
    assert_eq!(code, Some(0), "proxyd did not exit on SIGTERM");
    assert!(!pidfile.exists(), "pid file left behind");
}

#[test]
fn check_accepts_the_shipped_yaml_config() {
    assert_check_passes("etc/proxyd/proxyd.yaml");
}

#[test]
fn unreadable_ca_file_is_a_located_error_in_check_mode_and_at_startup() {
    let f = tempfile_path::TempFile::new(
        "ca.cfg",
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         listen x\n bind 127.0.0.1:1\n server a 127.0.0.1:443 check check-ssl verify required ca-file /nonexistent/ca.pem\n",
    );
    let out = proxyd().arg("-c").arg("-f").arg(&f.path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ca.cfg:8:"), "{err}");
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    let out = proxyd().arg("-db").arg("-f").arg(&f.path).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
}

/// `user`/`group` are applied after binding (a port below 1024 still binds) and `nbthread`
/// sizes the runtime: an idle proxyd has the main thread plus its workers.
#[test]
fn user_group_and_nbthread_are_applied() {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "needs root and CI=true"
        );
        eprintln!("\n!!!!! user_group_and_nbthread_are_applied: SKIPPED (needs root) !!!!!\n");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    // A privileged port on a loopback address no other test uses.
    let cfg = tempfile_path::TempFile::new(
        "priv.cfg",
        "global\n user nobody\n group nogroup\n nbthread 3\n\
         defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         listen x\n bind 127.0.0.77:81\n server a 127.0.0.1:9\n",
    );
    let mut child = proxyd()
        .args(["-db", "--liveness-socket", "none", "-f"])
        .arg(&cfg.path)
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = (0..100).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let uid_line = s.lines().find(|l| l.starts_with("Uid:"))?.to_owned();
        uid_line
            .split_whitespace()
            .nth(1)
            .is_some_and(|u| u == nobody.uid.to_string())
            .then_some(s)
    });
    let served = std::net::TcpStream::connect(("127.0.0.77", 81)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    let status = status.expect("proxyd never ran as nobody");
    assert!(served, "the privileged port was not bound before dropping");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let nogroup = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
    assert_eq!(field("Gid:"), nogroup.gid.to_string());
    assert_eq!(field("Threads:"), "4", "main thread + nbthread 3 workers");
}
