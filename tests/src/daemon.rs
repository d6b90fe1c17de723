//! The VRRP daemons under test: our `vrrpd` and Debian's keepalived, started with the same
//! keepalived command line inside a lab box.
//!
//! Owns locating the binaries and the [`Daemon`] handle (graceful stop, crash, restart). Must not
//! decide pass/fail: tests and scenarios do.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;

use crate::poll::Stamp;
use crate::process::Proc;

/// Which implementation runs on a box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Impl {
    /// Our daemon, `<target-dir>/<profile>/vrrpd` (or `$VRRPD_BIN`).
    Vrrpd,
    /// Debian's keepalived 2.2.7, `/usr/sbin/keepalived` (or `$KEEPALIVED_BIN`).
    Keepalived,
}

impl Impl {
    /// Short label for logs and tables.
    pub fn label(self) -> &'static str {
        match self {
            Impl::Vrrpd => "vrrpd",
            Impl::Keepalived => "keepalived",
        }
    }

    /// Parses a label (`vrrpd`, `keepalived`).
    pub fn from_label(s: &str) -> Result<Self> {
        match s {
            "vrrpd" | "ours" => Ok(Impl::Vrrpd),
            "keepalived" => Ok(Impl::Keepalived),
            other => bail!("unknown implementation {other:?} (want vrrpd or keepalived)"),
        }
    }

    /// The implementation the "ours" tests run: vrrpd, unless `SYSTEM_TESTS_OURS=keepalived` is set
    /// to validate the harness itself against keepalived (refused when `CI=true`).
    pub fn ours() -> Self {
        match env::var("SYSTEM_TESTS_OURS").as_deref() {
            Ok("keepalived") => {
                assert!(
                    !crate::is_ci(),
                    "SYSTEM_TESTS_OURS=keepalived is for validating the harness, never in CI"
                );
                eprintln!(
                    "!!! SYSTEM_TESTS_OURS=keepalived: running keepalived in place of vrrpd \
                     (harness validation only; these results say nothing about vrrpd) !!!"
                );
                Impl::Keepalived
            }
            _ => Impl::Vrrpd,
        }
    }

    /// Path of the binary; fails clearly when it is missing.
    pub fn binary(self) -> Result<PathBuf> {
        match self {
            Impl::Vrrpd => vrrpd_binary(),
            Impl::Keepalived => {
                let path = env::var_os("KEEPALIVED_BIN")
                    .map_or_else(|| PathBuf::from("/usr/sbin/keepalived"), PathBuf::from);
                if !path.is_file() {
                    bail!(
                        "keepalived not found at {} (apt-get install keepalived, or set KEEPALIVED_BIN)",
                        path.display()
                    );
                }
                Ok(path)
            }
        }
    }

    /// The keepalived-style command line (`-n -l -D -f CONF -p PID -r VRRPPID`).
    pub fn argv(self, conf: &Path, pid: &Path, vrrp_pid: &Path) -> Result<Vec<String>> {
        let mut argv = vec![self.binary()?.display().to_string()];
        argv.extend(["-n", "-l", "-D", "-f"].map(String::from));
        argv.push(conf.display().to_string());
        argv.push("-p".into());
        argv.push(pid.display().to_string());
        argv.push("-r".into());
        argv.push(vrrp_pid.display().to_string());
        if self == Impl::Vrrpd {
            // Each box of the lab gets its own control socket next to its pid file (the
            // default path is shared by every namespace of the host).
            argv.push("--control-socket".into());
            argv.push(pid.with_extension("ctl").display().to_string());
        }
        Ok(argv)
    }

    /// The version line the binary prints for `-v` (first line of stdout+stderr).
    pub fn version(self) -> Result<String> {
        let out = Command::new(self.binary()?)
            .arg("-v")
            .output()
            .context("running -v")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        Ok(text.lines().next().unwrap_or_default().trim().to_owned())
    }
}

/// Locates vrrpd: `$VRRPD_BIN`, else next to the running executable (`target/<profile>/deps/..`
/// for test binaries, `target/<profile>/` for the benchmark binary).
pub fn vrrpd_binary() -> Result<PathBuf> {
    workspace_binary("vrrpd", "VRRPD_BIN")
}

/// The proxyd binary: `$PROXYD_BIN`, or `proxyd` next to the test executable.
pub fn proxyd_binary() -> Result<PathBuf> {
    workspace_binary("proxyd", "PROXYD_BIN")
}

/// Debian's HAProxy: `$HAPROXY_BIN`, or `/usr/sbin/haproxy`.
pub fn haproxy_binary() -> Result<PathBuf> {
    let path = env::var_os("HAPROXY_BIN")
        .map_or_else(|| PathBuf::from("/usr/sbin/haproxy"), PathBuf::from);
    if !path.is_file() {
        bail!(
            "haproxy not found at {} (apt-get install haproxy, or set HAPROXY_BIN)",
            path.display()
        );
    }
    Ok(path)
}

/// A workspace binary: `$env_var` when set, else `name` in the cargo target directory the test
/// executable runs from (`cargo build --workspace --bins` puts it there).
pub fn workspace_binary(name: &str, env_var: &str) -> Result<PathBuf> {
    if let Some(path) = env::var_os(env_var) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{env_var}={} does not exist", path.display());
        }
        return Ok(path);
    }
    let exe = env::current_exe().context("locating the test executable")?;
    let mut dir = exe
        .parent()
        .context("test executable has no parent directory")?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().context("deps has no parent directory")?;
    }
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{name} binary not found at {} — build it first (`cargo build --workspace --bins`) or \
             point {env_var} at it",
            path.display()
        );
    }
    Ok(path)
}

/// A running VRRP daemon on one lab box.
#[derive(Debug)]
pub struct Daemon {
    /// Which implementation this is.
    pub imp: Impl,
    proc: Proc,
}

impl Daemon {
    pub(crate) fn new(imp: Impl, proc: Proc) -> Self {
        Self { imp, proc }
    }

    /// The underlying process (output, pid, signals).
    pub fn proc(&mut self) -> &mut Proc {
        &mut self.proc
    }

    /// Graceful stop: SIGTERM to the main process. Returns when the signal was sent.
    pub fn sigterm(&mut self) -> Result<Stamp> {
        self.proc.signal(Signal::SIGTERM)
    }

    /// Crash: SIGKILL to the whole process group (keepalived's parent and VRRP child together, so
    /// the child cannot shut down gracefully). Returns when the signal was sent.
    pub fn sigkill(&mut self) -> Result<Stamp> {
        self.proc.signal_group(Signal::SIGKILL)
    }

    /// Waits (bounded) for the daemon to exit and returns its exit code (`None` if killed).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        Ok(self.proc.wait_exit(timeout)?.code())
    }

    /// Fails with the daemon's output if it has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        self.proc.ensure_running()
    }

    /// Everything the daemon logged so far.
    pub fn output(&self) -> String {
        self.proc.output()
    }
}
