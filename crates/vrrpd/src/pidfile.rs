//! Pid files held under an exclusive `flock`, so a second vrrpd with the same pid file refuses to
//! start while several vrrpds with their own pid files (one per network namespace) run side by side.
//!
//! Owns: creating, locking, writing and removing the pid files. Must not: decide which paths are
//! used (the CLI does) or signal other processes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why the pid files could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Another process holds the lock.
    #[error("already running: {path} is locked{}", pid.map(|p| format!(" by pid {p}")).unwrap_or_default())]
    AlreadyRunning {
        /// The locked file.
        path: PathBuf,
        /// The pid written in it, if readable.
        pid: Option<u32>,
    },
    /// Creating, locking or writing failed.
    #[error("pid file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Locked pid files; removed (then unlocked) on drop.
#[derive(Debug)]
pub struct PidFiles {
    files: Vec<(PathBuf, Flock<File>)>,
}

impl PidFiles {
    /// Opens (creating) and exclusively locks every path; the same path given twice is locked once.
    /// Fails with [`PidFileError::AlreadyRunning`] if any is locked by another process.
    pub fn lock<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<Self, PidFileError> {
        let mut files: Vec<(PathBuf, Flock<File>)> = Vec::new();
        for path in paths {
            if files.iter().any(|(p, _)| p == path) {
                continue;
            }
            let io_err = |source| PidFileError::Io {
                path: path.to_path_buf(),
                source,
            };
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io_err)?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => files.push((path.to_path_buf(), lock)),
                Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                    let mut text = String::new();
                    let pid = file
                        .read_to_string(&mut text)
                        .ok()
                        .and_then(|_| text.trim().parse().ok());
                    return Err(PidFileError::AlreadyRunning {
                        path: path.to_path_buf(),
                        pid,
                    });
                }
                Err((_, errno)) => return Err(io_err(io::Error::from(errno))),
            }
        }
        Ok(Self { files })
    }

    /// Writes `pid` (and a newline) into every file, replacing what was there.
    pub fn write_pid(&mut self, pid: u32) -> Result<(), PidFileError> {
        for (path, lock) in &mut self.files {
            let file: &mut File = lock;
            let res = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| writeln!(file, "{pid}"))
                .and_then(|()| file.flush());
            res.map_err(|source| PidFileError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// The locked paths.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }
}

impl Drop for PidFiles {
    fn drop(&mut self) {
        // Unlink while still holding the lock, so we never remove a file another vrrpd has just
        // locked; the lock itself goes with the descriptor.
        for (path, _) in &self.files {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove pid file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vrrpd-pid-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn second_lock_refused_and_files_removed_on_drop() {
        let dir = temp_dir("second");
        let (a, b) = (dir.join("a.pid"), dir.join("b.pid"));
        let mut first = PidFiles::lock([a.as_path(), b.as_path()]).expect("first lock");
        first.write_pid(4242).expect("write");
        assert_eq!(std::fs::read_to_string(&a).expect("read a"), "4242\n");
        assert_eq!(std::fs::read_to_string(&b).expect("read b"), "4242\n");

        // flock locks belong to the open file description, so a second open in this process
        // conflicts exactly as another process would.
        match PidFiles::lock([b.as_path()]) {
            Err(PidFileError::AlreadyRunning { path, pid }) => {
                assert_eq!(path, b);
                assert_eq!(pid, Some(4242));
            }
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        drop(first);
        assert!(!a.exists() && !b.exists());
        let again = PidFiles::lock([a.as_path()]).expect("lock after release");
        assert_eq!(again.paths().count(), 1);
        drop(again);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn same_path_twice_is_locked_once_and_stale_content_replaced() {
        let dir = temp_dir("twice");
        let p = dir.join("k.pid");
        std::fs::write(&p, "99999999999 stale\n").expect("stale file");
        let mut files = PidFiles::lock([p.as_path(), p.as_path()]).expect("lock");
        assert_eq!(files.paths().count(), 1);
        files.write_pid(7).expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "7\n");
        drop(files);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn unwritable_location_is_an_io_error() {
        let err = PidFiles::lock([Path::new("/nonexistent-dir-vrrpd/x.pid")]).expect_err("no dir");
        assert!(matches!(err, PidFileError::Io { .. }), "{err}");
    }
}
