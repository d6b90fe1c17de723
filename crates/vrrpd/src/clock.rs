//! The daemon's one clock read.
//!
//! Owns: turning "now" into the `std::time::Instant` that lbcore's state machine takes. It reads
//! tokio's clock (CLOCK_MONOTONIC, and pausable in tests), never `std::time::Instant::now`. Must
//! not: be bypassed; every other module (deadlines, rate limits, tests) gets time from here.
//! Sleeps and timeouts go through tokio's timer, which runs on this same clock.

use std::time::Instant;

/// Now, on tokio's monotonic clock.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Wall-clock now, for what people read (mail `Date:`, status output, dump files); never for
/// timing decisions.
pub fn wall() -> std::time::SystemTime {
    #[allow(clippy::disallowed_methods)] // The one wall-clock read of the daemon.
    std::time::SystemTime::now()
}

/// A tokio sleep deadline for an lbcore instant.
pub fn deadline(at: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(at)
}

#[cfg(test)]
mod tests {
    /// The rule of this module, checked on the sources: no other file of the crate (tests
    /// included) reads a clock directly.
    #[test]
    fn no_other_module_reads_a_clock() {
        let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
        let mut offenders = Vec::new();
        let mut dirs = vec![dir];
        let mut files = Vec::new();
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).expect("src dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        for path in files {
            if path.file_name().is_some_and(|n| n == "clock.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            for (n, line) in text.lines().enumerate() {
                if line.contains("Instant::now") || line.contains("SystemTime::now") {
                    offenders.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
