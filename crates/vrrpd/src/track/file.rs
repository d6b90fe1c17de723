//! `track_file` trackers: a number read from a file, times the weight (reference §2,
//! keepalived `vrrp_track.c` `process_track_file`).
//!
//! Owns: `init_file` at start, reading and parsing the file, and watching it with inotify on
//! its directory, so that a write (`IN_CLOSE_WRITE`), a replacement by rename (`IN_MOVED_TO`),
//! a removal (`IN_DELETE`, `IN_MOVED_FROM`) are all seen without polling. Sends a [`Verdict`]
//! with the value only when the value changes. Must not: compute priorities (the hub multiplies
//! by the weight) or write the file after `init_file`.
//!
//! Content rules, as keepalived reads the file (`strtol(buf, NULL, 0)` on its first 127 bytes):
//! a missing, unreadable or empty file counts as 0; leading blanks and a sign are allowed, `0x`
//! means hexadecimal and a leading `0` octal; reading stops at the first character that is not
//! a digit, so `12abc` is 12 and non-numeric text is 0. A number outside the `int` range is
//! logged ("invalid number") and ignored: the previous value stays.

use std::path::{Path, PathBuf};

use lbcore::config::vrrp::TrackFile;
use lbcore::vrrp::track::Status;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;
use crate::sys::{self, InotifyFd};

/// What keepalived reads of the file (`char buf[128]`, one byte for the NUL).
const READ_MAX: usize = 127;

/// What parsing the file's content gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A value to use.
    Value(i64),
    /// A number outside the `int` range: keep the previous value.
    OutOfRange,
}

/// keepalived's `strtol(buf, NULL, 0)` followed by its `int` range check (see the module
/// documentation).
pub fn parse(content: &[u8]) -> Reading {
    let s = &content[..content.len().min(READ_MAX)];
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let mut radix = 10;
    if s.get(i) == Some(&b'0') {
        if matches!(s.get(i + 1), Some(b'x' | b'X'))
            && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            radix = 16;
            i += 2;
        } else {
            radix = 8;
        }
    }
    let mut value: i64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).and_then(|&c| char::from(c).to_digit(radix)) {
        value = match value
            .checked_mul(i64::from(radix))
            .and_then(|v| v.checked_add(i64::from(d)))
        {
            Some(v) => v,
            None => {
                overflow = true;
                i64::MAX
            }
        };
        i += 1;
    }
    let value = if negative { -value } else { value };
    if overflow || value < i64::from(i32::MIN) || value > i64::from(i32::MAX) {
        Reading::OutOfRange
    } else {
        Reading::Value(value)
    }
}

/// Reads `path` as keepalived does: missing, unreadable or empty counts as 0.
pub fn read(path: &Path) -> Reading {
    use std::io::Read;
    let mut buf = Vec::with_capacity(READ_MAX);
    match std::fs::File::open(path) {
        Ok(f) => match f.take(READ_MAX as u64).read_to_end(&mut buf) {
            Ok(_) => parse(&buf),
            Err(_) => Reading::Value(0),
        },
        Err(_) => Reading::Value(0),
    }
}

/// `init_file [VALUE] [overwrite]`: writes VALUE (default 0) when the file is missing, or
/// always with `overwrite`.
pub fn init_file(f: &TrackFile) -> std::io::Result<()> {
    let Some(init) = f.init_file else {
        return Ok(());
    };
    if !init.overwrite && f.file.exists() {
        return Ok(());
    }
    std::fs::write(&f.file, format!("{}\n", init.value))
}

/// Watches the directory holding `path`.
fn watch_dir(path: &Path) -> std::io::Result<AsyncFd<InotifyFd>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    ino.add_watch(
        dir,
        AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF,
    )?;
    sys::async_inotify(ino)
}

/// Starts watching every track file; sends a [`Verdict`] with the value read on each change.
pub fn start_all(
    files: Vec<(usize, TrackFile)>,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    for (index, f) in files {
        if let Err(e) = init_file(&f) {
            tracing::error!(tracker = %f.name, file = %f.file.display(), error = %e, "cannot initialise track file");
        }
        let (tx, stop) = (tx.clone(), stop.clone());
        tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = run(index, f, tx) => {}
            }
        });
    }
}

async fn run(index: usize, f: TrackFile, tx: mpsc::Sender<Verdict>) {
    // Watch first, then read: a write in between is seen by both, never by none.
    let watcher = match watch_dir(&f.file) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(tracker = %f.name, file = %f.file.display(), error = %e, "cannot watch track file's directory; its value is read once");
            None
        }
    };
    let name: Option<PathBuf> = f.file.file_name().map(PathBuf::from);
    let mut last: Option<i64> = None;
    if !update(index, &f, &mut last, &tx).await {
        return;
    }
    let Some(watcher) = watcher else {
        return std::future::pending().await;
    };
    loop {
        let Ok(mut guard) = watcher.readable().await else {
            return;
        };
        let events = match guard.try_io(|w| w.get_ref().0.read_events().map_err(Into::into)) {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::error!(tracker = %f.name, error = %e, "reading inotify events failed");
                return;
            }
            Err(_would_block) => continue,
        };
        let relevant = events.iter().any(|e| {
            e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW)
                || e.mask
                    .intersects(AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF)
                || e.name.as_deref().map(Path::new) == name.as_deref()
        });
        if relevant && !update(index, &f, &mut last, &tx).await {
            return;
        }
        if events
            .iter()
            .any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED))
        {
            tracing::warn!(tracker = %f.name, file = %f.file.display(), "track file's directory went away; no longer watched");
            return std::future::pending().await;
        }
    }
}

/// Reads the file and sends its value if it changed; false when the hub has gone.
async fn update(
    index: usize,
    f: &TrackFile,
    last: &mut Option<i64>,
    tx: &mpsc::Sender<Verdict>,
) -> bool {
    let value = match read(&f.file) {
        Reading::Value(v) => v,
        Reading::OutOfRange => {
            tracing::info!(tracker = %f.name, file = %f.file.display(), "invalid number read from track file; ignoring");
            return true;
        }
    };
    if *last == Some(value) {
        return true;
    }
    *last = Some(value);
    tracing::info!(tracker = %f.name, file = %f.file.display(), value, "track file {} value now {}", f.name, value);
    tx.send(Verdict {
        tracker: index,
        status: Status::Up,
        value: Some(value),
    })
    .await
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_parses_like_strtol_base_0() {
        assert_eq!(parse(b"5\n"), Reading::Value(5));
        assert_eq!(parse(b"  -12 "), Reading::Value(-12));
        assert_eq!(parse(b"+7"), Reading::Value(7));
        assert_eq!(parse(b"0x1f"), Reading::Value(31));
        assert_eq!(parse(b"010"), Reading::Value(8));
        assert_eq!(parse(b"12abc"), Reading::Value(12));
        assert_eq!(parse(b"abc"), Reading::Value(0));
        assert_eq!(parse(b""), Reading::Value(0));
        assert_eq!(parse(b"0x"), Reading::Value(0));
        assert_eq!(parse(b"09"), Reading::Value(0));
        assert_eq!(parse(b"2147483647"), Reading::Value(i64::from(i32::MAX)));
        assert_eq!(parse(b"2147483648"), Reading::OutOfRange);
        assert_eq!(parse(b"-2147483649"), Reading::OutOfRange);
        assert_eq!(parse(b"99999999999999999999999"), Reading::OutOfRange);
    }
}
