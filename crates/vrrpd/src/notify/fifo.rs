//! Notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`; keepalived-vrrp.md §3.4).
//!
//! Owns the FIFO's life: created with mode 0644 (and the configured owner) when absent, opened
//! `O_RDWR|O_NONBLOCK` so that neither opening nor writing ever waits for a reader, lines in
//! keepalived's format (`INSTANCE "VI_1" MASTER 103\n`), a full FIFO dropping the line (counted),
//! and removed at exit when vrrpd created it. A reload opens the FIFOs of the new configuration
//! before the old dispatcher closes its own, so FIFOs are counted per path in this process: the
//! last one to close a FIFO that vrrpd created removes it. Must not: block, or decide which events
//! are written.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use lbcore::config::vrrp::NotifyFifo;
use nix::sys::stat::Mode;

use super::{Announced, Subject};

/// FIFOs open in this process, by path: how many [`Fifo`]s hold each, and whether vrrpd created
/// it (then the last to close it removes it).
static OPEN: Mutex<Option<HashMap<PathBuf, (usize, bool)>>> = Mutex::new(None);

/// Records one more holder of `path`; returns whether vrrpd created it, now or earlier.
fn hold(path: &Path, created_now: bool) -> bool {
    let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    let entry = open
        .get_or_insert_with(HashMap::new)
        .entry(path.to_path_buf())
        .or_insert((0, false));
    entry.0 += 1;
    entry.1 |= created_now;
    entry.1
}

/// Drops one holder of `path`; returns whether the caller was the last holder of a FIFO vrrpd
/// created.
fn release(path: &Path) -> bool {
    let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(map) = open.as_mut() else {
        return false;
    };
    let Some(entry) = map.get_mut(path) else {
        return false;
    };
    entry.0 = entry.0.saturating_sub(1);
    if entry.0 > 0 {
        return false;
    }
    let created = entry.1;
    map.remove(path);
    created
}

/// Mode of a FIFO vrrpd creates (keepalived's).
pub const MODE: u32 = 0o644;

/// Errors opening a FIFO.
#[derive(Debug, thiserror::Error)]
pub enum FifoError {
    /// The path exists and is not a FIFO.
    #[error("{0} exists and is not a FIFO")]
    NotFifo(PathBuf),
    /// mkfifo or chown failed.
    #[error("cannot create {0}: {1}")]
    Create(PathBuf, nix::Error),
    /// The owner is unknown.
    #[error("owner of {0}: {1}")]
    Owner(PathBuf, super::script::ScriptError),
    /// open failed.
    #[error("cannot open {0}: {1}")]
    Open(PathBuf, io::Error),
}

/// One line as keepalived writes it: `INSTANCE "VI_1" MASTER 103\n` (groups carry 0).
pub fn line(subject: Subject, name: &str, state: Announced, priority: u8) -> String {
    format!(
        "{} \"{}\" {} {}\n",
        subject.as_str(),
        name,
        state.as_str(),
        priority
    )
}

/// An open notify FIFO.
#[derive(Debug)]
pub struct Fifo {
    path: PathBuf,
    file: File,
    created: bool,
    dropped: u64,
    written: u64,
}

impl Fifo {
    /// Creates (if absent) and opens the FIFO of `cfg`.
    pub fn open(cfg: &NotifyFifo) -> Result<Self, FifoError> {
        let path = cfg.path.clone();
        let created = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_fifo() => false,
            Ok(_) => return Err(FifoError::NotFifo(path)),
            Err(_) => {
                nix::unistd::mkfifo(&path, Mode::from_bits_truncate(MODE))
                    .map_err(|e| FifoError::Create(path.clone(), e))?;
                // mkfifo's mode went through the umask; keepalived's FIFO is 0644 exactly.
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(MODE))
                    .map_err(|e| FifoError::Open(path.clone(), e))?;
                if let Some((u, g)) = &cfg.owner {
                    let who = super::script::resolve(u, g.as_deref())
                        .map_err(|e| FifoError::Owner(path.clone(), e))?;
                    nix::unistd::chown(&path, Some(who.uid), Some(who.gid))
                        .map_err(|e| FifoError::Create(path.clone(), e))?;
                }
                true
            }
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| FifoError::Open(path.clone(), e))?;
        let created = hold(&path, created);
        Ok(Fifo {
            path,
            file,
            created,
            dropped: 0,
            written: 0,
        })
    }

    /// The FIFO's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line without waiting; a full FIFO drops it (counted and logged).
    ///
    /// Lines are shorter than `PIPE_BUF`, so a write is all or nothing.
    pub fn write_line(&mut self, line: &str) {
        match self.file.write(line.as_bytes()) {
            Ok(n) if n == line.len() => self.written += 1,
            Ok(n) => {
                self.dropped += 1;
                tracing::warn!(fifo = %self.path.display(), written = n, "notify fifo short write");
            }
            Err(e) => {
                self.dropped += 1;
                tracing::warn!(fifo = %self.path.display(), dropped = self.dropped, error = %e, "notify fifo line dropped");
            }
        }
    }

    /// Lines dropped so far (FIFO full or write error).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Closes the FIFO and removes it if vrrpd created it and no other [`Fifo`] of this process
    /// (a reload's) still holds it.
    pub fn close(self) {
        if release(&self.path)
            && self.created
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            tracing::debug!(fifo = %self.path.display(), error = %e, "notify fifo not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_keepalived_s() {
        assert_eq!(
            line(Subject::Instance, "VI_1", Announced::Master, 103),
            "INSTANCE \"VI_1\" MASTER 103\n"
        );
        assert_eq!(
            line(Subject::Group, "G1", Announced::Backup, 0),
            "GROUP \"G1\" BACKUP 0\n"
        );
        // Events that are not state changes (keepalived's notify_fifo words).
        assert_eq!(
            line(Subject::Instance, "VI_1", Announced::MasterRxLowerPri, 105),
            "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 105\n"
        );
        assert_eq!(
            line(Subject::Instance, "VI_1", Announced::MasterPriority, 107),
            "INSTANCE \"VI_1\" MASTER_PRIORITY 107\n"
        );
        assert_eq!(
            line(Subject::Instance, "VI_1", Announced::BackupPriority, 90),
            "INSTANCE \"VI_1\" BACKUP_PRIORITY 90\n"
        );
    }

    #[test]
    fn a_created_fifo_survives_until_its_last_holder_closes_it() {
        let path = std::env::temp_dir().join(format!("vrrpd-fifo-handover-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let cfg = NotifyFifo {
            path: path.clone(),
            owner: None,
        };
        let old = Fifo::open(&cfg).expect("created");
        // A reload opens the same FIFO before the old dispatcher closes its own.
        let new = Fifo::open(&cfg).expect("reopened");
        old.close();
        assert!(path.exists(), "the new holder still uses it");
        new.close();
        assert!(
            !path.exists(),
            "vrrpd created it: the last holder removes it"
        );
        // A FIFO someone else created is never removed.
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(MODE)).expect("mkfifo");
        Fifo::open(&cfg).expect("opened").close();
        assert!(path.exists());
        std::fs::remove_file(&path).expect("cleanup");
    }
}
