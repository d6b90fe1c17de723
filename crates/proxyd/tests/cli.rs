//! The proxyd binary's `-c` check mode and startup on a bad configuration.

use std::process::Command;

fn proxyd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_proxyd"))
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

#[test]
fn check_accepts_the_shipped_exchange_config() {
    let out = proxyd().arg("-c").arg("-f").arg(repo_file("etc/proxyd/haproxy.cfg")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
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
fn startup_with_a_broken_file_exits_1_before_serving() {
    let f = broken_file();
    let out = proxyd().arg("-db").arg("-f").arg(&f.path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn version_and_missing_file() {
    let out = proxyd().arg("-v").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("proxyd"));
    let out = proxyd().arg("-c").arg("-f").arg("/nonexistent/proxyd.cfg").output().unwrap();
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
