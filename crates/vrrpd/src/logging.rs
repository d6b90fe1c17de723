//! Log output: tracing-subscriber to stderr, or to syslog with keepalived's ident.
//!
//! Owns: the subscriber set-up and the syslog writer (libc `openlog`/`syslog` through
//! [`crate::sys`], no extra crate: a line-buffering `MakeWriter` that maps the event level to a
//! syslog priority). Must not: decide what is logged; the driver writes keepalived's exact lines
//! (`(VI_1) Entering MASTER STATE`) as the event message so both outputs carry them verbatim.

use std::ffi::CString;
use std::io::{self, IsTerminal};

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::Facility;

/// keepalived's syslog ident for its VRRP process (reference §3.6).
pub const SYSLOG_IDENT: &std::ffi::CStr = c"Keepalived_vrrp";

/// Environment variable that overrides the level filter (`tracing` EnvFilter syntax).
pub const LOG_ENV: &str = "VRRPD_LOG";

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Standard error, with timestamps.
    Stderr,
    /// syslog with the given facility, ident `Keepalived_vrrp`, pid included.
    Syslog(Facility),
}

/// Installs the global subscriber. `detail` (`-D`) raises the default level to debug.
pub fn init(target: Target, detail: bool) -> anyhow::Result<()> {
    // -D: our own debug lines, not those of every dependency (netlink, tokio).
    let default = if detail { "info,vrrpd=debug" } else { "info" };
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match target {
        Target::Stderr => builder
            .with_ansi(io::stderr().is_terminal())
            .with_writer(io::stderr)
            .try_init(),
        Target::Syslog(facility) => {
            crate::sys::openlog(SYSLOG_IDENT, facility.to_libc());
            builder
                .with_ansi(false)
                .without_time()
                .with_level(false)
                .with_writer(Syslog)
                .try_init()
        }
    }
    .map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// `MakeWriter` producing one syslog record per event.
#[derive(Debug, Clone, Copy)]
struct Syslog;

/// Collects one formatted event and sends it to syslog on drop.
struct SyslogLine {
    priority: libc::c_int,
    buf: Vec<u8>,
}

fn priority(level: &Level) -> libc::c_int {
    match *level {
        Level::ERROR => libc::LOG_ERR,
        Level::WARN => libc::LOG_WARNING,
        Level::INFO => libc::LOG_INFO,
        Level::DEBUG | Level::TRACE => libc::LOG_DEBUG,
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> Self::Writer {
        SyslogLine {
            priority: libc::LOG_INFO,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        SyslogLine {
            priority: priority(meta.level()),
            buf: Vec::new(),
        }
    }
}

impl io::Write for SyslogLine {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let line = text.trim_end_matches('\n').replace('\0', "\\0");
        if line.is_empty() {
            return;
        }
        if let Ok(c) = CString::new(line) {
            crate::sys::syslog(self.priority, &c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(priority(&Level::ERROR), libc::LOG_ERR);
        assert_eq!(priority(&Level::WARN), libc::LOG_WARNING);
        assert_eq!(priority(&Level::INFO), libc::LOG_INFO);
        assert_eq!(priority(&Level::DEBUG), libc::LOG_DEBUG);
    }
}
