//! Notify scripts: started, never waited for by the dispatch loop, reaped by a small task each.
//!
//! Owns how a notify command is run (keepalived-vrrp.md §3.4, `ka:keepalived/core/notify.c`):
//! argv executed directly (no shell; a bare name is searched on PATH by exec), its own process
//! group, `IFS`, `LD_PRELOAD` and `LD_LIBRARY_PATH` removed from the environment, stdio on
//! /dev/null, run as the command's user, else `script_user`, else `keepalived_script` when that
//! user exists, else as vrrpd itself. Must not: wait for a script on the caller's path, or decide
//! which script runs for which event (that is [`super::dispatch`]).
//!
//! As keepalived, scripts get `PR_SET_PDEATHSIG` = SIGTERM ([`crate::sys::term_on_parent_death`]).

use std::time::Duration;

use lbcore::config::vrrp::{Command, GlobalDefs};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Group, Pid, Uid, User};
use tokio::task::JoinHandle;

/// keepalived's default script user when `script_user` is not set (and the user exists).
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Environment variables keepalived removes before running a script.
pub const UNSAFE_ENV: [&str; 3] = ["IFS", "LD_PRELOAD", "LD_LIBRARY_PATH"];

/// Grace between SIGTERM and SIGKILL when a timed script overruns.
pub const KILL_GRACE: Duration = Duration::from_millis(200);

/// Errors starting a script.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The command has no program.
    #[error("empty command")]
    Empty,
    /// The user or group is unknown.
    #[error("unknown user or group {0}")]
    UnknownUser(String),
    /// Looking the user up failed.
    #[error("user lookup failed: {0}")]
    Lookup(#[from] nix::Error),
    /// fork/exec failed.
    #[error("cannot run: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Who a script runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// User id.
    pub uid: Uid,
    /// Group id.
    pub gid: Gid,
}

/// Resolves `user [group]` (group defaulting to the user's primary group).
pub fn resolve(user: &str, group: Option<&str>) -> Result<RunAs, ScriptError> {
    let u = User::from_name(user)?.ok_or_else(|| ScriptError::UnknownUser(user.to_string()))?;
    let gid = match group {
        Some(g) => {
            Group::from_name(g)?
                .ok_or_else(|| ScriptError::UnknownUser(g.to_string()))?
                .gid
        }
        None => u.gid,
    };
    Ok(RunAs { uid: u.uid, gid })
}

/// The user a script runs as when its command names none: `script_user`, else
/// `keepalived_script` if it exists, else `None` (vrrpd's own user).
pub fn default_user(global: &GlobalDefs) -> Result<Option<RunAs>, ScriptError> {
    match &global.script_user {
        Some((u, g)) => resolve(u, g.as_deref()).map(Some),
        None => match resolve(DEFAULT_SCRIPT_USER, None) {
            Ok(r) => Ok(Some(r)),
            Err(ScriptError::UnknownUser(_)) => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// Starts `cmd` with `extra` appended to its argv and returns the task that reaps it.
///
/// With `deadline`, the script's process group gets SIGTERM when it overruns, then SIGKILL
/// after [`KILL_GRACE`] (keepalived's 1 s for `notify_stop`); without, it may run as long as it
/// likes. The returned task ends when the script is reaped.
pub fn start(
    cmd: &Command,
    extra: &[&str],
    default: Option<RunAs>,
    deadline: Option<Duration>,
) -> Result<(u32, JoinHandle<()>), ScriptError> {
    let (program, args) = cmd.argv.split_first().ok_or(ScriptError::Empty)?;
    let run_as = match &cmd.user {
        Some((u, g)) => Some(resolve(u, g.as_deref())?),
        None => default,
    };
    let mut c = tokio::process::Command::new(program);
    c.args(args)
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    crate::sys::term_on_parent_death(&mut c);
    for v in UNSAFE_ENV {
        c.env_remove(v);
    }
    if let Some(r) = run_as {
        let me = nix::unistd::geteuid();
        if me.is_root() {
            c.uid(r.uid.as_raw()).gid(r.gid.as_raw());
        } else if r.uid != me {
            tracing::warn!(program = %program, uid = r.uid.as_raw(), "not root: notify script runs as vrrpd's user");
        }
    }
    let mut child = c.spawn()?;
    let pid = child.id().unwrap_or(0);
    let name = program.clone();
    let reaper = tokio::spawn(async move {
        let status = match deadline {
            None => child.wait().await,
            Some(d) => match tokio::time::timeout(d, child.wait()).await {
                Ok(s) => s,
                Err(_) => {
                    tracing::warn!(program = %name, pid, "notify script timed out; terminating its process group");
                    signal_group(pid, Signal::SIGTERM);
                    match tokio::time::timeout(KILL_GRACE, child.wait()).await {
                        Ok(s) => s,
                        Err(_) => {
                            signal_group(pid, Signal::SIGKILL);
                            child.wait().await
                        }
                    }
                }
            },
        };
        match status {
            Ok(s) if s.success() => {
                tracing::debug!(program = %name, pid, "notify script exited");
            }
            Ok(s) => tracing::info!(program = %name, pid, status = %s, "notify script failed"),
            Err(e) => tracing::warn!(program = %name, pid, error = %e, "notify script wait failed"),
        }
    });
    Ok((pid, reaper))
}

/// Sends `sig` to the process group led by `pid` (scripts are group leaders).
pub fn signal_group(pid: u32, sig: Signal) {
    if let Ok(p) = i32::try_from(pid)
        && p > 0
    {
        let _ = killpg(Pid::from_raw(p), sig);
    }
}
