//! The native proxyd tracker (`track_proxyd`, DESIGN §1, docs/proxyd.md): proxyd's pid file
//! checked with signal 0 every interval (the design card's `killall -0`, scoped to the process the
//! pid file names, without forking), a pidfd so that proxyd's exit is seen the moment it happens,
//! and with `require_serving` proxyd's answer on its liveness socket.
//!
//! Owns: one task per `track_proxyd` block and its checks. Must not: compute priorities (the hub
//! does) nor decide what a failure does (the weight does; the default 0 faults the instance).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::SystemTime;

use lbcore::config::vrrp::TrackProxyd;
use lbcore::liveness::{self, Answer};
use lbcore::vrrp::track::Status;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;

/// The result of one check, with the reason when down (logged on each change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// proxyd runs (and, with `require_serving`, answered `serving`); its pid.
    Up(u32),
    /// proxyd is down, or not serving; why.
    Down(String),
}

impl Check {
    fn status(&self) -> Status {
        match self {
            Check::Up(_) => Status::Up,
            Check::Down(_) => Status::Down,
        }
    }
}

/// One tracker's state between checks: the process it watches and the pidfd that tells its exit.
#[derive(Debug)]
pub struct Watch {
    cfg: TrackProxyd,
    /// The pid watched, the pid file's mtime when it was read, and its pidfd (None when the
    /// kernel has no pidfd_open: the interval check alone then sees the exit).
    current: Option<(u32, Option<SystemTime>, Option<AsyncFd<OwnedFd>>)>,
    /// A pid seen exiting, with the pid file's mtime then: a pid file still naming it is stale
    /// (the pid may already belong to another process).
    dead: Option<(u32, Option<SystemTime>)>,
}

impl Watch {
    /// A watch for `cfg`, nothing read yet.
    pub fn new(cfg: TrackProxyd) -> Self {
        Watch {
            cfg,
            current: None,
            dead: None,
        }
    }

    /// The block this watch checks.
    pub fn config(&self) -> &TrackProxyd {
        &self.cfg
    }

    /// One check: pid file, `kill(pid, 0)`, then the liveness query when `require_serving`.
    pub async fn check(&mut self) -> Check {
        let (pid, mtime) = match read_pid_file(&self.cfg.pid_file) {
            Ok(v) => v,
            Err(why) => {
                self.current = None;
                return Check::Down(why);
            }
        };
        if self.dead == Some((pid, mtime)) {
            return Check::Down(format!("pid {pid} has exited (stale pid file)"));
        }
        if self.current.as_ref().is_none_or(|c| c.0 != pid) {
            let fd = match crate::sys::pidfd_open(pid) {
                Ok(fd) => crate::sys::async_owned_fd(fd).ok(),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                    self.current = None;
                    return Check::Down(format!("no process {pid}"));
                }
                Err(_) => None,
            };
            self.current = Some((pid, mtime, fd));
        }
        // The design card's `killall -0`, for the one process the pid file names.
        let nix_pid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
        match kill(nix_pid, None) {
            // EPERM: it exists but is not ours to signal (vrrpd not root).
            Ok(()) | Err(Errno::EPERM) => {}
            Err(_) => {
                self.exited();
                return Check::Down(format!("no process {pid}"));
            }
        }
        if self.exited_now() {
            return Check::Down(format!("pid {pid} has exited"));
        }
        if self.cfg.require_serving {
            match tokio::time::timeout(self.cfg.timeout, query(&self.cfg.liveness_socket)).await {
                Err(_) => return Check::Down("no answer on the liveness socket".into()),
                Ok(Err(e)) => return Check::Down(format!("liveness socket: {e}")),
                Ok(Ok(a)) if !a.serving() => {
                    return Check::Down(format!(
                        "not serving: {}/{} frontends usable, down: {}",
                        a.usable(),
                        a.frontends,
                        a.down.join(",")
                    ));
                }
                Ok(Ok(a)) if a.pid != pid => {
                    return Check::Down(format!(
                        "liveness socket answered for pid {}, pid file says {pid}",
                        a.pid
                    ));
                }
                Ok(Ok(_)) => {}
            }
        }
        Check::Up(pid)
    }

    /// Waits until the watched process exits (never returns while nothing is watched or no
    /// pidfd is available).
    pub async fn exit(&self) {
        match self.current.as_ref().and_then(|c| c.2.as_ref()) {
            Some(fd) => {
                // A pidfd polls readable once its process has exited (pidfd_open(2)).
                let _ = fd.readable().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Records that the watched process exited.
    pub fn exited(&mut self) {
        if let Some((pid, mtime, _)) = self.current.take() {
            self.dead = Some((pid, mtime));
        }
    }

    /// Whether the pidfd already says the process exited (then recorded). `kill(pid, 0)`
    /// succeeds on a zombie, so this is what tells an exited child of ours.
    fn exited_now(&mut self) -> bool {
        let gone = self
            .current
            .as_ref()
            .and_then(|c| c.2.as_ref())
            .is_some_and(|fd| crate::sys::poll_readable(fd.get_ref().as_fd()));
        if gone {
            self.exited();
        }
        gone
    }
}

/// Reads the pid file: its pid and modification time, or why not.
fn read_pid_file(path: &Path) -> Result<(u32, Option<SystemTime>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read pid file {}: {e}", path.display()))?;
    let pid =
        liveness::parse_pid_file(&text).map_err(|e| format!("pid file {}: {e}", path.display()))?;
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((pid, mtime))
}

/// Sends [`liveness::REQUEST`] on `socket` and decodes the one-line answer.
pub async fn query(socket: &Path) -> io::Result<Answer> {
    let mut s = UnixStream::connect(socket).await?;
    s.write_all(liveness::REQUEST).await?;
    let mut line = Vec::new();
    let mut r = BufReader::new(s.take(liveness::MAX_LINE as u64 + 1));
    r.read_until(b'\n', &mut line).await?;
    Answer::decode(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// One tracker's loop: a check at once and every `interval`, and at once when the pidfd says
/// proxyd exited; a [`Verdict`] with index `tracker` on each change of status.
pub async fn run(tracker: usize, mut w: Watch, tx: mpsc::Sender<Verdict>, stop: CancellationToken) {
    let name = w.cfg.name.clone();
    let mut ticker = tokio::time::interval(w.cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<Check> = None;
    loop {
        let check = tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => w.check().await,
            () = w.exit() => {
                let pid = w.current.as_ref().map_or(0, |c| c.0);
                w.exited();
                Check::Down(format!("pid {pid} has exited"))
            }
        };
        let changed = last.as_ref().is_none_or(|l| l.status() != check.status());
        if changed {
            match &check {
                Check::Up(pid) => {
                    tracing::info!(tracker = %name, pid, "track_proxyd({}) proxyd is up", name);
                }
                Check::Down(why) => {
                    tracing::warn!(tracker = %name, reason = %why, "track_proxyd({}) proxyd is down: {}", name, why);
                }
            }
            let v = Verdict {
                tracker,
                status: check.status(),
                value: None,
            };
            if tx.send(v).await.is_err() {
                return;
            }
        }
        last = Some(check);
    }
}

/// Starts one task per `track_proxyd` block.
pub fn start_all(
    trackers: Vec<(usize, TrackProxyd)>,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    for (idx, t) in trackers {
        tasks.spawn(run(idx, Watch::new(t), tx.clone(), stop.clone()));
    }
}
