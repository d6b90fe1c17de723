//! Operating a running vrrpd of the lab the way an operator does: `vrrpd status` over the box's
//! control socket (the table, parsed into rows), the configuration file it was started with (to
//! rewrite before a SIGHUP), and a notify FIFO read without blocking.
//!
//! Owns the paths [`crate::Lab::start_conf`] gives a daemon (`<dir>/<name>.conf`,
//! `<dir>/<name>.ctl`) and the parsing of the status table. Must not judge anything: tests
//! assert on what it returns.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::daemon::{Daemon, vrrpd_binary};
use crate::poll::{Seen, poll_until};

/// The configuration file `daemon` was started with by [`crate::Lab::start_conf`].
pub fn conf_path(dir: &Path, daemon: &mut Daemon) -> PathBuf {
    dir.join(format!("{}.conf", daemon.proc().name()))
}

/// The control socket the lab gave a vrrpd (`--control-socket <dir>/<name>.ctl`).
pub fn ctl_path(dir: &Path, daemon: &mut Daemon) -> PathBuf {
    dir.join(format!("{}.ctl", daemon.proc().name()))
}

/// One instance row of the `vrrpd status` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Instance name.
    pub name: String,
    /// VRID.
    pub vrid: u8,
    /// `INIT`, `BACKUP`, `MASTER` or `FAULT`.
    pub state: String,
    /// Base priority.
    pub base: u8,
    /// Effective priority.
    pub effective: u8,
    /// `self`, `ADDR (PRIO)` or `-`.
    pub master: String,
    /// `TIME FROM->TO (reason)` or `-`.
    pub last_transition: String,
    /// Counters from the instance's section below the table.
    pub counters: Counters,
}

/// The counters `vrrpd status` prints per instance (`adverts: sent S received R; became master
/// B, released master L; priority 0: sent Z received Y`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Adverts sent.
    pub sent: u64,
    /// Adverts received.
    pub received: u64,
    /// Times it became master.
    pub became_master: u64,
    /// Times it left master.
    pub released_master: u64,
    /// Priority-0 adverts sent.
    pub zero_sent: u64,
    /// Priority-0 adverts received.
    pub zero_received: u64,
}

impl Counters {
    /// Parses the `  adverts: ...` line.
    fn parse(line: &str) -> Result<Self> {
        let nums: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("counters {line:?}"))?;
        // "priority 0" contributes its 0 as the fifth number.
        let [
            sent,
            received,
            became_master,
            released_master,
            0,
            zero_sent,
            zero_received,
        ] = nums[..]
        else {
            bail!("counters line {line:?}");
        };
        Ok(Self {
            sent,
            received,
            became_master,
            released_master,
            zero_sent,
            zero_received,
        })
    }
}

impl Row {
    /// The reason of the last transition (`startup`, `reload`, ...), if any.
    pub fn reason(&self) -> Option<&str> {
        let (_, r) = self.last_transition.rsplit_once('(')?;
        r.strip_suffix(')')
    }
}

/// Runs `vrrpd status --control-socket SOCKET` and parses its table.
pub fn status(socket: &Path) -> Result<Vec<Row>> {
    let out = Command::new(vrrpd_binary()?)
        .arg("status")
        .arg("--control-socket")
        .arg(socket)
        .output()
        .context("running vrrpd status")?;
    if !out.status.success() {
        bail!(
            "vrrpd status --control-socket {} failed ({}): {}",
            socket.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_table(&String::from_utf8_lossy(&out.stdout))
}

/// The row of instance `name` in `rows`.
pub fn row<'a>(rows: &'a [Row], name: &str) -> Result<&'a Row> {
    rows.iter()
        .find(|r| r.name == name)
        .with_context(|| format!("no instance {name} in the status: {rows:#?}"))
}

/// Parses what `vrrpd status` prints: a header line, one line per instance whose cells are
/// separated by at least two spaces (no cell contains two spaces in a row), then per instance a
/// `NAME:` section with its trackers and counters.
pub fn parse_table(text: &str) -> Result<Vec<Row>> {
    let mut lines = text.lines();
    let header = lines.next().context("empty status output")?;
    if !header.starts_with("INSTANCE") {
        bail!("not a status table: {text:?}");
    }
    let mut rows = lines
        .by_ref()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            let [name, vrid, _iface, state, prio, master, since] = cells[..] else {
                bail!("status row with {} cells: {l:?}", cells.len());
            };
            let (base, effective) = prio
                .split_once('/')
                .with_context(|| format!("priority cell {prio:?}"))?;
            Ok(Row {
                name: name.to_owned(),
                vrid: vrid.parse().with_context(|| format!("vrid {vrid:?}"))?,
                state: state.to_owned(),
                base: base.parse().with_context(|| format!("base {base:?}"))?,
                effective: effective
                    .parse()
                    .with_context(|| format!("effective {effective:?}"))?,
                master: master.to_owned(),
                last_transition: since.to_owned(),
                counters: Counters::default(),
            })
        })
        .collect::<Result<Vec<Row>>>()?;
    let mut current: Option<usize> = None;
    for l in lines {
        if let Some(name) = l.strip_suffix(':').filter(|n| !n.starts_with(' ')) {
            current = rows.iter().position(|r| r.name == name);
        } else if let (Some(i), Some(c)) = (current, l.trim_start().strip_prefix("adverts: ")) {
            rows[i].counters = Counters::parse(c)?;
        }
    }
    Ok(rows)
}

/// A notify FIFO created before the daemon starts (so the daemon writes into it and leaves it
/// in place) and read without blocking.
#[derive(Debug)]
pub struct Fifo {
    file: File,
    seen: String,
}

impl Fifo {
    /// Creates the FIFO at `path` and opens it for reading, non-blocking.
    pub fn create(path: &Path) -> Result<Self> {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .with_context(|| format!("mkfifo {}", path.display()))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            file,
            seen: String::new(),
        })
    }

    /// Everything written so far (all lines since creation).
    pub fn read(&mut self) -> &str {
        let mut buf = [0u8; 4096];
        // Bounded: a FIFO holds at most 64 KiB, 16 reads of 4 KiB.
        for _ in 0..64 {
            match self.file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        &self.seen
    }

    /// The lines so far that start with `prefix` (e.g. `GROUP `).
    pub fn lines_with(&mut self, prefix: &str) -> Vec<String> {
        self.read()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }
}

impl Fifo {
    /// Waits, bounded by `timeout` and polling every 10 ms, until at least `count` lines equal to
    /// `line` have been read; the error carries everything read so far.
    pub fn wait_lines(&mut self, line: &str, count: usize, timeout: Duration) -> Result<Seen<()>> {
        let what = format!("{count} fifo line(s) {line:?}");
        let seen = poll_until(&what, timeout, Duration::from_millis(10), || {
            let n = self.read().lines().filter(|l| *l == line).count();
            Ok((n >= count).then_some(()))
        });
        seen.with_context(|| format!("fifo so far: {:?}", self.seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_status_table() {
        let text = "INSTANCE  VRID  INTERFACE  STATE   PRIO base/eff  MASTER (prio)     LAST TRANSITION\n\
                    VI_51     51    eth0       MASTER  101/101        self              2026-11-24T07:00:00.000000Z BACKUP->MASTER (master_down)\n\
                    VI_52     52    eth0       BACKUP  100/98         192.0.2.11 (101)  2026-11-24T07:00:00.000000Z INIT->BACKUP (startup)\n\
                    \nVI_51:\n  adverts: sent 12 received 3; became master 1, released master 0; priority 0: sent 0 received 0\n  drops: none\n\
                    \nVI_52:\n  tracker chk (script): up +0\n  adverts: sent 0 received 40; became master 2, released master 2; priority 0: sent 1 received 3\n  drops: none\n\
                    \ncontrol socket: 1 answered, 0 malformed\n";
        let rows = parse_table(text).expect("table");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].vrid,
                rows[0].state.as_str(),
                rows[0].master.as_str()
            ),
            (51, "MASTER", "self")
        );
        assert_eq!(rows[0].reason(), Some("master_down"));
        assert_eq!((rows[1].base, rows[1].effective), (100, 98));
        assert_eq!(rows[1].master, "192.0.2.11 (101)");
        assert_eq!(rows[0].counters.sent, 12);
        assert_eq!(
            rows[1].counters,
            Counters {
                sent: 0,
                received: 40,
                became_master: 2,
                released_master: 2,
                zero_sent: 1,
                zero_received: 3
            }
        );
        assert_eq!(row(&rows, "VI_52").expect("row").reason(), Some("startup"));
        assert!(row(&rows, "VI_9").is_err());
        assert!(parse_table("garbage").is_err());
    }
}
