//! `vrrp_track_process` trackers, driven by kernel process events (the proc connector), not by
//! polling or forking a checker (reference §1.4, keepalived 2.x `track_process.c`).
//!
//! Owns: one `NETLINK_CONNECTOR` socket subscribed to `CN_IDX_PROC` for every process tracker of
//! the daemon, one `/proc` scan after subscribing, the set of matching pids per tracker, the
//! `fork_delay` / `terminate_delay` timers, and the decoding of `cn_msg` / `proc_event` (bounds
//! checked: a short or odd message is skipped, never a panic). Sends a [`Verdict`] only when a
//! tracker's status changes (`lbcore::vrrp::track::process_status`). Must not: compute
//! priorities (the hub does) or signal processes.
//!
//! Matching, as keepalived does it:
//! - `process NAME` alone: `NAME` equals `/proc/PID/comm` (the kernel truncates comm to 15
//!   bytes, so a longer `NAME` is compared on its first 15 bytes). Not a regex: `ssh` ≠ `sshd`.
//! - `full_command`: `NAME` equals argv\[0\] (the full path as started); without it but with
//!   arguments, `NAME` is compared with comm as above.
//! - Arguments, if given, against argv\[1..\]: exact by default; `param_match initial` when the
//!   configured arguments are the first arguments of the process; `param_match partial` when
//!   the configured arguments, joined by NULs, are a byte prefix of the process's (the last
//!   configured argument may be the start of a longer one).
//!
//! Without the proc connector (no `CAP_NET_ADMIN`, or a kernel without `CONFIG_PROC_EVENTS`) the
//! tracker says so at error level and falls back to a `/proc` scan every second.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lbcore::config::vrrp::TrackProcess;
use lbcore::vrrp::track::{Status, process_status};
use rtnetlink::sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket, protocols};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;
use crate::clock;

/// `CN_IDX_PROC` / `CN_VAL_PROC` (`linux/connector.h`).
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN` (`linux/cn_proc.h`).
const PROC_CN_MCAST_LISTEN: u32 = 1;
/// `proc_event.what` values (`linux/cn_proc.h`).
const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_COMM: u32 = 0x0000_0200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const NLMSG_NOOP: u16 = 1;
/// `struct cn_msg` before its payload.
const CN_MSG_LEN: usize = 20;
/// `struct proc_event` before its union (what, cpu, timestamp_ns aligned to 8).
const PROC_EVENT_HDR: usize = 16;
/// Fallback scan period without the proc connector.
const POLL_FALLBACK: Duration = Duration::from_secs(1);
/// Kernel comm length without its NUL (`TASK_COMM_LEN - 1`).
const COMM_MAX: usize = 15;

/// A decoded process event (only what the trackers need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// A new task; `child_pid == child_tgid` for a process (a thread otherwise).
    Fork {
        /// New task id.
        child_pid: i32,
        /// Its thread-group id.
        child_tgid: i32,
    },
    /// `execve` by `tgid` (or its name changed: `PR_SET_NAME`, a write to comm).
    Changed {
        /// The task.
        pid: i32,
        /// Its thread-group id.
        tgid: i32,
    },
    /// A task exited.
    Exit {
        /// The task.
        pid: i32,
        /// Its thread-group id.
        tgid: i32,
    },
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(b.try_into().ok()?))
}

fn i32_at(buf: &[u8], at: usize) -> Option<i32> {
    u32_at(buf, at).and_then(|v| i32::try_from(v).ok())
}

/// Decodes every proc event in one datagram from the connector socket (a sequence of netlink
/// messages, each carrying a `cn_msg` whose payload is a `proc_event`). Messages that are short,
/// for another connector index or of an event kind not tracked are skipped; `Err` means the
/// kernel reported an error (e.g. the subscription was refused).
pub fn parse_datagram(buf: &[u8]) -> Result<Vec<ProcEvent>, i32> {
    let mut events = Vec::new();
    let mut off = 0usize;
    while let Some(len) = u32_at(buf, off) {
        let len = len as usize;
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            break;
        }
        let msg = &buf[off..off + len];
        let kind = u16::from_ne_bytes([msg[4], msg[5]]);
        if kind == NLMSG_ERROR {
            // struct nlmsgerr: int error (negative errno), then the offending header.
            let code = u32_at(msg, NLMSG_HDRLEN).map_or(0, |v| v as i32);
            if code != 0 {
                return Err(-code);
            }
        } else if kind >= NLMSG_DONE || kind == NLMSG_NOOP {
            if let Some(ev) = parse_cn_msg(&msg[NLMSG_HDRLEN..]) {
                events.push(ev);
            }
        }
        // NLMSG_ALIGN(len)
        off += (len + 3) & !3;
    }
    Ok(events)
}

fn parse_cn_msg(cn: &[u8]) -> Option<ProcEvent> {
    if u32_at(cn, 0)? != CN_IDX_PROC || u32_at(cn, 4)? != CN_VAL_PROC {
        return None;
    }
    let data_len = usize::from(u16::from_ne_bytes([*cn.get(16)?, *cn.get(17)?]));
    let ev = cn.get(CN_MSG_LEN..CN_MSG_LEN.checked_add(data_len)?)?;
    let what = u32_at(ev, 0)?;
    let d = PROC_EVENT_HDR;
    match what {
        PROC_EVENT_FORK => Some(ProcEvent::Fork {
            child_pid: i32_at(ev, d + 8)?,
            child_tgid: i32_at(ev, d + 12)?,
        }),
        PROC_EVENT_EXEC | PROC_EVENT_COMM => Some(ProcEvent::Changed {
            pid: i32_at(ev, d)?,
            tgid: i32_at(ev, d + 4)?,
        }),
        PROC_EVENT_EXIT => Some(ProcEvent::Exit {
            pid: i32_at(ev, d)?,
            tgid: i32_at(ev, d + 4)?,
        }),
        _ => None,
    }
}

/// The subscription message: `nlmsghdr` + `cn_msg` {CN_IDX_PROC, CN_VAL_PROC, len 4} + the op.
fn listen_message() -> Vec<u8> {
    let total = NLMSG_HDRLEN + CN_MSG_LEN + 4;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq
    m.extend_from_slice(&std::process::id().to_ne_bytes()); // port id
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // ack
    m.extend_from_slice(&4u16.to_ne_bytes()); // len
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    m
}

/// Opens the proc connector and subscribes to process events (needs `CAP_NET_ADMIN`).
async fn open_connector() -> std::io::Result<TokioSocket> {
    let mut sock = TokioSocket::new(protocols::NETLINK_CONNECTOR)?;
    sock.socket_mut().bind(&SocketAddr::new(0, CN_IDX_PROC))?;
    // Large bursts (a fork bomb, a big `make -j`) overflow the default buffer; an overflow is
    // handled by a rescan, but fewer of them is better.
    let _ = sock.socket_mut().set_rx_buf_sz(4 << 20);
    sock.send(&listen_message()).await?;
    Ok(sock)
}

/// What a process tracker compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    name: Vec<u8>,
    args: Vec<Vec<u8>>,
    full_command: bool,
    param_match: ParamMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamMatch {
    Exact,
    Initial,
    Partial,
}

/// A process as `/proc` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// `/proc/PID/comm` without the newline.
    pub comm: Vec<u8>,
    /// `/proc/PID/cmdline` split at NULs.
    pub argv: Vec<Vec<u8>>,
}

impl ProcInfo {
    /// Reads `/proc/PID`; `None` when the process has gone.
    pub fn read(pid: i32) -> Option<Self> {
        let mut comm = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
        if comm.last() == Some(&b'\n') {
            comm.pop();
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv = cmdline
            .strip_suffix(b"\0")
            .unwrap_or(&cmdline)
            .split(|&b| b == 0)
            .filter(|_| !cmdline.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        Some(ProcInfo { comm, argv })
    }
}

impl Matcher {
    /// The matcher of a `vrrp_track_process` block.
    pub fn new(p: &TrackProcess) -> Self {
        let mut words = p.process.iter().map(|w| w.as_bytes().to_vec());
        let name = words.next().unwrap_or_default();
        let param_match = match p.param_match.as_deref() {
            Some("initial") => ParamMatch::Initial,
            Some("partial") => ParamMatch::Partial,
            _ => ParamMatch::Exact,
        };
        Matcher {
            name,
            args: words.collect(),
            full_command: p.full_command,
            param_match,
        }
    }

    /// Whether a process with `info` counts for this tracker.
    pub fn matches(&self, info: &ProcInfo) -> bool {
        let name_ok = if self.full_command {
            info.argv.first().is_some_and(|a| *a == self.name)
        } else {
            let n = &self.name[..self.name.len().min(COMM_MAX)];
            info.comm == n
        };
        if !name_ok {
            return false;
        }
        if self.args.is_empty() && !self.full_command {
            return true;
        }
        let have = info.argv.get(1..).unwrap_or(&[]);
        match self.param_match {
            ParamMatch::Exact => have == self.args.as_slice(),
            ParamMatch::Initial => have.starts_with(&self.args),
            ParamMatch::Partial => have.join(&0u8).starts_with(&self.args.join(&0u8)),
        }
    }
}

/// One tracker's state.
#[derive(Debug)]
struct Tracker {
    index: usize,
    name: String,
    matcher: Matcher,
    quorum: u32,
    quorum_max: Option<u32>,
    fork_delay: Duration,
    terminate_delay: Duration,
    pids: BTreeSet<i32>,
    /// Count at the last evaluation (to tell a fork from a termination).
    last_count: u32,
    /// Status last sent (`None` before the first verdict).
    reported: Option<Status>,
    /// A change waiting for its delay.
    pending: Option<(Status, Instant)>,
}

impl Tracker {
    fn new(index: usize, p: &TrackProcess) -> Self {
        Tracker {
            index,
            name: p.name.clone(),
            matcher: Matcher::new(p),
            quorum: p.quorum,
            quorum_max: p.quorum_max,
            fork_delay: p.fork_delay.unwrap_or(p.delay),
            terminate_delay: p.terminate_delay.unwrap_or(p.delay),
            pids: BTreeSet::new(),
            last_count: 0,
            reported: None,
            pending: None,
        }
    }

    fn count(&self) -> u32 {
        u32::try_from(self.pids.len()).unwrap_or(u32::MAX)
    }

    /// Decides what to send after the pid set changed (or a timer fired at `now`).
    fn evaluate(&mut self, now: Instant) -> Option<Verdict> {
        let count = self.count();
        let want = process_status(count, self.quorum, self.quorum_max);
        let grew = count > self.last_count;
        let shrank = count < self.last_count;
        self.last_count = count;
        let Some(reported) = self.reported else {
            // The first verdict (after the start-up scan) is never delayed.
            return self.report(want, count);
        };
        if want == reported {
            if self.pending.take().is_some() {
                tracing::debug!(tracker = %self.name, count, "process change reverted within its delay");
            }
            return None;
        }
        match self.pending {
            Some((s, at)) if s == want => {
                if now >= at {
                    self.report(want, count)
                } else {
                    None
                }
            }
            _ => {
                let delay = if grew {
                    self.fork_delay
                } else if shrank {
                    self.terminate_delay
                } else {
                    Duration::ZERO
                };
                if delay.is_zero() {
                    self.report(want, count)
                } else {
                    self.pending = Some((want, now + delay));
                    None
                }
            }
        }
    }

    fn report(&mut self, status: Status, count: u32) -> Option<Verdict> {
        self.pending = None;
        self.reported = Some(status);
        let (quorum, quorum_max) = (self.quorum, self.quorum_max);
        match status {
            Status::Up => {
                tracing::info!(tracker = %self.name, count, quorum, ?quorum_max, "track process {} now up ({} running)", self.name, count);
            }
            _ => {
                tracing::warn!(tracker = %self.name, count, quorum, ?quorum_max, "track process {} now down ({} running)", self.name, count);
            }
        }
        Some(Verdict {
            tracker: self.index,
            status,
            value: None,
        })
    }
}

/// All process trackers and the pids they count.
#[derive(Debug)]
struct Watch {
    trackers: Vec<Tracker>,
}

impl Watch {
    /// Re-reads one process and updates every tracker's pid set.
    fn refresh(&mut self, tgid: i32) {
        let info = ProcInfo::read(tgid);
        for t in &mut self.trackers {
            if info.as_ref().is_some_and(|i| t.matcher.matches(i)) {
                t.pids.insert(tgid);
            } else {
                t.pids.remove(&tgid);
            }
        }
    }

    fn gone(&mut self, tgid: i32) {
        for t in &mut self.trackers {
            t.pids.remove(&tgid);
        }
    }

    /// A full `/proc` scan: every tracker's pid set rebuilt.
    fn scan(&mut self) {
        for t in &mut self.trackers {
            t.pids.clear();
        }
        let Ok(dir) = std::fs::read_dir("/proc") else {
            tracing::error!("cannot read /proc; process trackers see no process");
            return;
        };
        for entry in dir.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            {
                self.refresh(pid);
            }
        }
    }

    fn apply(&mut self, ev: ProcEvent) {
        match ev {
            // A new thread changes no process count.
            ProcEvent::Fork {
                child_pid,
                child_tgid,
            } if child_pid == child_tgid => self.refresh(child_tgid),
            ProcEvent::Changed { tgid, .. } => self.refresh(tgid),
            // A thread's exit is not the process's; the leader's exit is.
            ProcEvent::Exit { pid, tgid } if pid == tgid => self.gone(tgid),
            _ => {}
        }
    }

    fn verdicts(&mut self, now: Instant) -> Vec<Verdict> {
        self.trackers
            .iter_mut()
            .filter_map(|t| t.evaluate(now))
            .collect()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.trackers
            .iter()
            .filter_map(|t| t.pending.map(|(_, at)| at))
            .min()
    }
}

/// Starts watching every process tracker; sends a [`Verdict`] (with its index) on each change.
pub fn start_all(
    processes: Vec<(usize, TrackProcess)>,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    if processes.is_empty() {
        return;
    }
    let watch = Watch {
        trackers: processes.iter().map(|(i, p)| Tracker::new(*i, p)).collect(),
    };
    let (tx, stop) = (tx.clone(), stop.clone());
    tasks.spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = run(watch, tx) => {}
        }
    });
}

async fn send_all(tx: &mpsc::Sender<Verdict>, verdicts: Vec<Verdict>) -> bool {
    for v in verdicts {
        if tx.send(v).await.is_err() {
            return false;
        }
    }
    true
}

async fn run(mut watch: Watch, tx: mpsc::Sender<Verdict>) {
    // Subscribe first, then scan: a process started in between is seen by both, never by none.
    let sock = match open_connector().await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to kernel process events (proc connector); process trackers fall back to a /proc scan every second");
            None
        }
    };
    watch.scan();
    if !send_all(&tx, watch.verdicts(clock::now())).await {
        return;
    }
    let Some(sock) = sock else {
        loop {
            tokio::time::sleep(POLL_FALLBACK).await;
            watch.scan();
            if !send_all(&tx, watch.verdicts(clock::now())).await {
                return;
            }
        }
    };
    loop {
        let timer = watch.next_deadline();
        let received = tokio::select! {
            r = sock.recv_from_full() => Some(r),
            () = sleep_until(timer) => None,
        };
        match received {
            Some(Ok((buf, _))) => match parse_datagram(&buf) {
                Ok(events) => {
                    for ev in events {
                        watch.apply(ev);
                    }
                }
                Err(errno) => {
                    tracing::error!(
                        errno,
                        "the kernel refused the process-event subscription; falling back to /proc scans"
                    );
                    watch.scan();
                }
            },
            Some(Err(e)) => {
                // ENOBUFS: events were lost; the only safe answer is a full rescan.
                tracing::warn!(error = %e, "process events lost; rescanning /proc");
                watch.scan();
            }
            None => {}
        }
        if !send_all(&tx, watch.verdicts(clock::now())).await {
            return;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(clock::deadline(at)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(comm: &str, argv: &[&str]) -> ProcInfo {
        ProcInfo {
            comm: comm.as_bytes().to_vec(),
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        }
    }

    fn spec(process: &[&str], param_match: Option<&str>, full_command: bool) -> TrackProcess {
        TrackProcess {
            name: "t".into(),
            process: process.iter().map(|s| (*s).to_owned()).collect(),
            param_match: param_match.map(str::to_owned),
            full_command,
            weight: Default::default(),
            quorum: 1,
            quorum_max: None,
            delay: Duration::ZERO,
            fork_delay: None,
            terminate_delay: None,
            span: lbcore::diag::Span::new(std::path::Path::new("x").into(), 1, 1),
        }
    }

    #[test]
    fn a_bare_name_matches_comm_exactly() {
        let m = Matcher::new(&spec(&["ssh"], None, false));
        assert!(m.matches(&info("ssh", &["/usr/bin/ssh", "host"])));
        assert!(!m.matches(&info("sshd", &["/usr/sbin/sshd"])));
        // comm is 15 bytes at most.
        let long = Matcher::new(&spec(&["averyveryverylongname"], None, false));
        assert!(long.matches(&info("averyveryverylo", &["x"])));
    }

    #[test]
    fn arguments_match_exactly_initially_or_partially() {
        let exact = Matcher::new(&spec(&["sleep", "100"], None, false));
        assert!(exact.matches(&info("sleep", &["sleep", "100"])));
        assert!(!exact.matches(&info("sleep", &["sleep", "100", "x"])));
        assert!(!exact.matches(&info("sleep", &["sleep", "1000"])));
        let initial = Matcher::new(&spec(&["sleep", "100"], Some("initial"), false));
        assert!(initial.matches(&info("sleep", &["sleep", "100", "x"])));
        assert!(!initial.matches(&info("sleep", &["sleep", "1000"])));
        let partial = Matcher::new(&spec(&["sleep", "100"], Some("partial"), false));
        assert!(partial.matches(&info("sleep", &["sleep", "1000"])));
        assert!(!partial.matches(&info("sleep", &["sleep", "10"])));
        let full = Matcher::new(&spec(&["/usr/bin/sleep", "5"], None, true));
        assert!(full.matches(&info("sleep", &["/usr/bin/sleep", "5"])));
        assert!(!full.matches(&info("sleep", &["sleep", "5"])));
        let full_alone = Matcher::new(&spec(&["/usr/bin/sleep"], None, true));
        assert!(!full_alone.matches(&info("sleep", &["/usr/bin/sleep", "5"])));
        assert!(full_alone.matches(&info("sleep", &["/usr/bin/sleep"])));
    }

    fn datagram(what: u32, a: u32, b: u32, c: u32, d: u32) -> Vec<u8> {
        let mut ev = Vec::new();
        ev.extend_from_slice(&what.to_ne_bytes());
        ev.extend_from_slice(&0u32.to_ne_bytes());
        ev.extend_from_slice(&0u64.to_ne_bytes());
        for v in [a, b, c, d, 0, 0] {
            ev.extend_from_slice(&v.to_ne_bytes());
        }
        let mut cn = Vec::new();
        cn.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        cn.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        cn.extend_from_slice(&[0; 8]);
        cn.extend_from_slice(&(ev.len() as u16).to_ne_bytes());
        cn.extend_from_slice(&[0; 2]);
        cn.extend_from_slice(&ev);
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + cn.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&cn);
        m
    }

    #[test]
    fn events_decode_and_short_messages_are_skipped() {
        let fork = datagram(PROC_EVENT_FORK, 10, 10, 11, 11);
        assert_eq!(
            parse_datagram(&fork),
            Ok(vec![ProcEvent::Fork {
                child_pid: 11,
                child_tgid: 11
            }])
        );
        let exit = datagram(PROC_EVENT_EXIT, 12, 12, 0, 0);
        assert_eq!(
            parse_datagram(&exit),
            Ok(vec![ProcEvent::Exit { pid: 12, tgid: 12 }])
        );
        let mut two = datagram(PROC_EVENT_EXEC, 5, 5, 0, 0);
        two.extend_from_slice(&datagram(PROC_EVENT_COMM, 6, 6, 0, 0));
        assert_eq!(parse_datagram(&two).map(|v| v.len()), Ok(2));
        // Every truncation of a message parses without panicking and yields no event.
        for cut in 0..fork.len() {
            assert_eq!(parse_datagram(&fork[..cut]), Ok(vec![]), "cut at {cut}");
        }
        // An event kind not tracked (UID change) is skipped.
        assert_eq!(parse_datagram(&datagram(4, 1, 1, 0, 0)), Ok(vec![]));
    }

    #[test]
    fn delays_hold_a_change_and_a_revert_cancels_it() {
        let mut p = spec(&["x"], None, false);
        p.terminate_delay = Some(Duration::from_secs(2));
        let mut t = Tracker::new(3, &p);
        let t0 = clock::now();
        t.pids.insert(1);
        assert_eq!(t.evaluate(t0).map(|v| v.status), Some(Status::Up));
        t.pids.clear();
        assert_eq!(t.evaluate(t0), None);
        assert!(t.pending.is_some());
        // Back before the delay: nothing is reported, the timer is dropped.
        t.pids.insert(2);
        assert_eq!(t.evaluate(t0 + Duration::from_secs(1)), None);
        assert!(t.pending.is_none());
        t.pids.clear();
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(t.evaluate(t1), None);
        assert_eq!(t.evaluate(t1 + Duration::from_millis(1999)), None);
        let v = t.evaluate(t1 + Duration::from_secs(2)).expect("verdict");
        assert_eq!((v.tracker, v.status), (3, Status::Down));
        // A fork with no fork_delay is immediate.
        t.pids.insert(4);
        assert_eq!(
            t.evaluate(t1 + Duration::from_secs(2)).map(|v| v.status),
            Some(Status::Up)
        );
    }
}
