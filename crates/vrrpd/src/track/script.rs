//! `vrrp_script` trackers: the command run directly at each interval, its exit status fed
//! through keepalived's rise/fall counter (`lbcore::vrrp::track::ScriptCounter`).
//!
//! Owns: resolving the program (PATH search with keepalived's warning), the user it runs as
//! (`user`, else global `script_user`, else root as keepalived 2.2.7), the
//! `enable_script_security` check, and each run: execve without a shell in a new process group,
//! `timeout` (SIGTERM to the group, SIGKILL 2 s later; a timeout is a failure), a run still going
//! at the next interval skipped. Must not: compute priorities (the hub does) or use a shell.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lbcore::config::vrrp::{GlobalDefs, VrrpScript};
use lbcore::vrrp::track::{ScriptCounter, Status};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Group, Pid, Uid, User};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;

/// Time between the SIGTERM of a timed-out script's process group and its SIGKILL (keepalived
/// `vrrp_scheduler.c`: the child thread re-armed for 2 s).
pub const KILL_AFTER: Duration = Duration::from_secs(2);

/// PATH used when vrrpd's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a script cannot be run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// `argv[0]` not found (or not executable) on PATH or at its path.
    #[error("not found or not executable: {0}")]
    NotFound(String),
    /// `user` / `script_user` names no user or group.
    #[error("unknown user or group '{0}'")]
    UnknownUser(String),
    /// `enable_script_security` and a path component writable by a non-root user.
    #[error("{0} is writable by a user other than root and the script's user")]
    Unsafe(PathBuf),
    /// An empty command.
    #[error("empty command")]
    Empty,
}

/// A script ready to run: program resolved, user resolved, security checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Block name.
    pub name: String,
    /// Program actually executed (absolute after a PATH search).
    pub program: PathBuf,
    /// argv as written (`argv[0]` kept as written, as execve gets it from keepalived).
    pub argv: Vec<String>,
    /// `interval`.
    pub interval: Duration,
    /// `timeout`.
    pub timeout: Duration,
    /// `rise`.
    pub rise: u32,
    /// `fall`.
    pub fall: u32,
    /// `init_fail`.
    pub init_fail: bool,
    /// uid/gid to switch to (`None`: run as vrrpd itself).
    pub ids: Option<(Uid, Gid)>,
}

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this status code.
    Exit(i32),
    /// Killed by this signal (not by us).
    Signal(i32),
    /// Ran past `timeout` and was killed.
    TimedOut,
    /// Could not be started.
    SpawnFailed,
    /// vrrpd is stopping; the run was killed.
    Stopped,
}

impl Outcome {
    /// keepalived's rule: exit status 0 is success; anything else, a signal or a timeout fails.
    pub fn success(self) -> bool {
        self == Outcome::Exit(0)
    }
}

/// Finds `prog` the way keepalived does: a name with a `/` is used as is, a bare name is
/// searched on `path` (the first executable regular file wins).
pub fn resolve(prog: &str, path: &str) -> Result<PathBuf, Error> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if prog.is_empty() {
        return Err(Error::Empty);
    }
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(Error::NotFound(prog.to_owned()))
        };
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(prog))
        .find(|p| executable(p))
        .ok_or_else(|| Error::NotFound(prog.to_owned()))
}

/// uid and gid of `user [group]` (the user's primary group when no group is given).
pub fn lookup_user(user: &str, group: Option<&str>) -> Result<(Uid, Gid), Error> {
    let u = User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| Error::UnknownUser(user.to_owned()))?;
    let gid = match group {
        None => u.gid,
        Some(g) => {
            Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| Error::UnknownUser(g.to_owned()))?
                .gid
        }
    };
    Ok((u.uid, gid))
}

/// keepalived's `enable_script_security` rule (`notify.c check_security`), generalised to the
/// user the script runs as: the program and every directory above it must be owned by root (or
/// that user), not group-writable unless the group is root's (or that user's), and not
/// world-writable. Returns the first offending path.
pub fn insecure_component(program: &Path, uid: Uid, gid: Gid) -> Option<PathBuf> {
    let real = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let trusted_uid = |u: u32| u == 0 || u == uid.as_raw();
    let trusted_gid = |g: u32| g == 0 || g == gid.as_raw();
    let mut cur = Some(real.as_path());
    while let Some(p) = cur {
        let Ok(m) = std::fs::metadata(p) else {
            return Some(p.to_path_buf());
        };
        let mode = m.mode();
        if !trusted_uid(m.uid())
            || (!trusted_gid(m.gid()) && mode & 0o020 != 0)
            || mode & 0o002 != 0
        {
            return Some(p.to_path_buf());
        }
        cur = p.parent();
    }
    None
}

/// Resolves `s`'s program and user and applies `enable_script_security` (see the module
/// documentation). `path` is the PATH to search.
pub fn prepare(s: &VrrpScript, global: &GlobalDefs, path: &str) -> Result<Prepared, Error> {
    let argv = s.command.argv.clone();
    let first = argv.first().ok_or(Error::Empty)?;
    let program = resolve(first, path)?;
    if !first.contains('/') {
        tracing::warn!(script = %s.name, program = %program.display(), "WARNING - script `{}` resolved by path search to `{}`. Please specify full path.", first, program.display());
    }
    // keepalived: the block's `user`, else the command's, else global `script_user`; unset
    // means root in 2.2.7 when no `keepalived_script` user exists (we always take root).
    let user = s
        .user
        .as_ref()
        .or(s.command.user.as_ref())
        .or(global.script_user.as_ref());
    let ids = match user {
        None => None,
        Some((u, g)) => Some(lookup_user(u, g.as_deref())?),
    };
    let me = Uid::effective();
    let ids = match ids {
        Some((uid, _)) if !me.is_root() && uid != me => {
            tracing::warn!(script = %s.name, uid = uid.as_raw(), "vrrpd is not root and cannot switch user; the script runs as vrrpd's user");
            None
        }
        Some((uid, _)) if uid == me => None,
        other => other,
    };
    let (run_uid, run_gid) = ids.unwrap_or((me, Gid::effective()));
    if let Some(bad) = insecure_component(&program, run_uid, run_gid) {
        if global.enable_script_security {
            tracing::warn!(script = %s.name, path = %bad.display(), "Unsafe permissions found for script '{}' - disabling.", program.display());
            return Err(Error::Unsafe(bad));
        }
        if run_uid.is_root() {
            tracing::warn!(script = %s.name, path = %bad.display(), "vrrp_script runs as root but a path it depends on is writable by another user; enable_script_security would disable it");
        }
    }
    Ok(Prepared {
        name: s.name.clone(),
        program,
        argv,
        interval: s.interval,
        timeout: s.timeout,
        rise: s.rise,
        fall: s.fall,
        init_fail: s.init_fail,
        ids,
    })
}

/// Runs `p` once: execve in a new process group, stdio on /dev/null, killed as keepalived does
/// on timeout or when `stop` is cancelled.
pub async fn run_once(p: &Prepared, stop: &CancellationToken) -> Outcome {
    let mut cmd = tokio::process::Command::new(&p.program);
    cmd.arg0(&p.argv[0])
        .args(&p.argv[1..])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    crate::sys::term_on_parent_death(&mut cmd);
    if let Some((uid, gid)) = p.ids {
        // std drops the supplementary groups (setgroups(0)) when root sets a uid.
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(script = %p.name, error = %e, "cannot start script");
            return Outcome::SpawnFailed;
        }
    };
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let kill = |sig: Signal| {
        if let Some(g) = group {
            let _ = killpg(g, sig);
        }
    };
    tokio::select! {
        r = child.wait() => match r {
            Ok(st) => from_status(st),
            Err(_) => Outcome::SpawnFailed,
        },
        () = tokio::time::sleep(p.timeout) => {
            kill(Signal::SIGTERM);
            if tokio::time::timeout(KILL_AFTER, child.wait()).await.is_err() {
                kill(Signal::SIGKILL);
                let _ = child.wait().await;
            }
            Outcome::TimedOut
        }
        () = stop.cancelled() => {
            kill(Signal::SIGKILL);
            let _ = child.wait().await;
            Outcome::Stopped
        }
    }
}

fn from_status(st: ExitStatus) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => Outcome::Exit(c),
        (None, Some(s)) => Outcome::Signal(s),
        (None, None) => Outcome::SpawnFailed,
    }
}

/// The loop of one script: a run every `interval` (the first at once), a run still going at the
/// next interval skipped, each result through the rise/fall counter, a [`Verdict`] with index
/// `tracker` on each change. Returns when `stop` is cancelled or the hub has gone.
pub async fn run(tracker: usize, p: Prepared, tx: mpsc::Sender<Verdict>, stop: CancellationToken) {
    let p = Arc::new(p);
    let mut counter = ScriptCounter::new(p.rise, p.fall, p.init_fail);
    let mut ticker = tokio::time::interval(p.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running: Option<tokio::task::JoinHandle<Outcome>> = None;
    let mut last: Option<Outcome> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                if let Some(h) = running {
                    let _ = h.await;
                }
                return;
            }
            _ = ticker.tick() => {
                if running.is_some() {
                    tracing::info!(script = %p.name, "Track script {} is already running, expect idle - skipping run", p.name);
                    continue;
                }
                let (p, stop) = (Arc::clone(&p), stop.clone());
                running = Some(tokio::spawn(async move { run_once(&p, &stop).await }));
            }
            out = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                running = None;
                let out = out.unwrap_or(Outcome::SpawnFailed);
                match out {
                    Outcome::Stopped => return,
                    Outcome::TimedOut => tracing::warn!(script = %p.name, "VRRP_Script({}) timed_out", p.name),
                    Outcome::Exit(c) if c != 0 && last != Some(out) => {
                        tracing::info!(script = %p.name, code = c, "Script `{}` now returning {}", p.name, c);
                    }
                    Outcome::Signal(s) if last != Some(out) => {
                        tracing::info!(script = %p.name, signal = s, "Script `{}` killed by signal {}", p.name, s);
                    }
                    _ => {}
                }
                last = Some(out);
                if let Some(status) = counter.record(out.success()) {
                    match status {
                        Status::Up => tracing::info!(script = %p.name, "VRRP_Script({}) succeeded", p.name),
                        _ => tracing::info!(script = %p.name, "VRRP_Script({}) failed", p.name),
                    }
                    let v = Verdict { tracker, status, value: None };
                    if tx.send(v).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Starts one task per script; each sends a [`Verdict`] (with its index) when its status changes.
/// A script that cannot be run (not found, unknown user, unsafe under `enable_script_security`)
/// is logged and never started: it stays in its initial status, as keepalived disables it.
pub fn start_all(
    scripts: Vec<(usize, VrrpScript)>,
    global: &GlobalDefs,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
    let mut as_root = Vec::new();
    for (idx, s) in scripts {
        match prepare(&s, global, &path) {
            Ok(p) => {
                let root = p.ids.is_none_or(|(u, _)| u.is_root()) && Uid::effective().is_root();
                if root
                    && insecure_component(&p.program, Uid::from_raw(0), Gid::from_raw(0)).is_none()
                {
                    as_root.push(p.name.clone());
                }
                tasks.spawn(run(idx, p, tx.clone(), stop.clone()));
            }
            Err(e) => {
                tracing::warn!(script = %s.name, error = %e, "Disabling track script {} since not found/accessible", s.name);
            }
        }
    }
    // keepalived logs "SECURITY VIOLATION - scripts are being executed but script_security not
    // enabled." here; we say what it means, once, and only that (unsafe files warned above).
    if !as_root.is_empty() && !global.enable_script_security {
        tracing::warn!(scripts = ?as_root, "vrrp_script runs as root without enable_script_security; their files are writable only by root, so this is safe (set script_user to run them unprivileged)");
    }
}
