//! Processes started inside a lab namespace (`ip netns exec NS ...`).
//!
//! Owns [`Proc`]: stdout/stderr go to files in the lab directory; the process runs in its own process
//! group and the whole group is SIGKILLed and reaped on drop. Must not signal anything it did not
//! start.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::poll::{POLL_EVERY, Seen, Stamp, poll_until};

/// A process running inside a network namespace, killed (with its process group) on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `argv` inside namespace `ns` via `ip netns exec`, in a new process group, with output
    /// captured to `<dir>/<name>.out` and `<dir>/<name>.err`.
    pub fn spawn(ns: &str, dir: &Path, name: &str, argv: &[String]) -> Result<Self> {
        let Some((program, args)) = argv.split_first() else {
            bail!("empty command for {name}")
        };
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(
                File::create(&stdout).with_context(|| format!("creating {}", stdout.display()))?,
            )
            .stderr(
                File::create(&stderr).with_context(|| format!("creating {}", stderr.display()))?,
            )
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawning {name}: ip netns exec {ns} {}", argv.join(" ")))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            status: None,
        })
    }

    /// The name given at spawn time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id (`ip netns exec` execs the command, so this is the command's pid).
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Sends `sig` to the process itself and returns when it was sent.
    pub fn signal(&mut self, sig: Signal) -> Result<Stamp> {
        self.ensure_running()?;
        let stamp = Stamp::now();
        signal::kill(self.pid(), sig).with_context(|| format!("kill -{sig} {}", self.name))?;
        Ok(stamp)
    }

    /// Sends `sig` to the whole process group (e.g. keepalived's parent and VRRP child at once)
    /// and returns when it was sent.
    pub fn signal_group(&mut self, sig: Signal) -> Result<Stamp> {
        self.ensure_running()?;
        let stamp = Stamp::now();
        signal::killpg(self.pid(), sig).with_context(|| format!("kill -{sig} -{}", self.name))?;
        Ok(stamp)
    }

    /// Fails with the process's output if it has already exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.try_status()? {
            bail!(
                "{} exited unexpectedly ({status}); its output:\n{}",
                self.name,
                self.output()
            );
        }
        Ok(())
    }

    /// The exit status if the process has exited, without blocking.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for {}", self.name))?;
        }
        Ok(self.status)
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let name = self.name.clone();
        let seen = poll_until(&format!("{name} to exit"), timeout, POLL_EVERY, || {
            self.try_status()
        })?;
        Ok(seen.value)
    }

    /// Everything the process wrote so far: stderr, then stdout.
    pub fn output(&self) -> String {
        let err = fs::read_to_string(&self.stderr).unwrap_or_default();
        let out = fs::read_to_string(&self.stdout).unwrap_or_default();
        format!(
            "--- {} stderr ---\n{err}--- {} stdout ---\n{out}",
            self.name, self.name
        )
    }

    /// Waits (bounded) until the process has written a line containing `needle` (either stream).
    pub fn wait_output(&mut self, needle: &str, timeout: Duration) -> Result<Seen<()>> {
        let stderr = self.stderr.clone();
        let stdout = self.stdout.clone();
        let what = format!("{} to print {needle:?}", self.name);
        let seen = poll_until(&what, timeout, Duration::from_millis(10), || {
            let found = [&stderr, &stdout]
                .iter()
                .any(|p| fs::read_to_string(p).is_ok_and(|s| s.contains(needle)));
            if !found && self.try_status()?.is_some() {
                bail!(
                    "{} exited before printing {needle:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            Ok(found.then_some(()))
        });
        seen.with_context(|| self.output())
    }

    /// Counts lines (either stream) containing `needle`.
    pub fn count_output(&self, needle: &str) -> usize {
        [&self.stderr, &self.stdout]
            .iter()
            .filter_map(|p| fs::read_to_string(p).ok())
            .map(|s| s.lines().filter(|l| l.contains(needle)).count())
            .sum()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            // The group may already be gone; nothing else to do about an error here.
            let _ = signal::killpg(self.pid(), Signal::SIGKILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
