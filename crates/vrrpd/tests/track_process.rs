//! `vrrp_track_process` against real processes: the tracker subscribes to the kernel's proc
//! connector (root: CAP_NET_ADMIN), real processes are started and killed, and every verdict
//! is asserted (status, order, and that nothing else is sent).

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use lbcore::config::vrrp::{TrackProcess, Weight};
use lbcore::vrrp::track::Status;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vrrpd::track::{Verdict, process};

/// A verdict after a process event: the proc connector delivers in microseconds; this absorbs
/// a loaded 2-core machine (the /proc fallback would take up to 1 s and fail some waits).
const EVENT: Duration = Duration::from_millis(700);

fn spec(name: &str, process: &[&str]) -> TrackProcess {
    TrackProcess {
        name: name.into(),
        process: process.iter().map(|s| (*s).to_owned()).collect(),
        param_match: None,
        full_command: false,
        weight: Weight::default(),
        quorum: 1,
        quorum_max: None,
        delay: Duration::ZERO,
        fork_delay: None,
        terminate_delay: None,
        span: lbcore::diag::Span::new(std::path::Path::new("test.conf").into(), 1, 1),
    }
}

/// A copy of `sleep` under a name no other process on the machine has.
/// `tag` tells apart the tests of this file, which run in parallel (comm is 15 bytes at most).
fn unique_sleep(dir: &common::TempDir, tag: char) -> (String, std::path::PathBuf) {
    let name = format!("vtp{tag}{}", std::process::id() % 1_000_000);
    let path = dir.path(&name);
    std::fs::copy("/bin/sleep", &path).expect("copy /bin/sleep");
    (name, path)
}

struct Procs(Vec<Child>);

impl Procs {
    fn start(&mut self, cmd: &std::path::Path, args: &[&str]) -> usize {
        self.0
            .push(Command::new(cmd).args(args).spawn().expect("spawn"));
        self.0.len() - 1
    }
    fn kill(&mut self, i: usize) {
        let _ = self.0[i].kill();
        let _ = self.0[i].wait();
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn next(rx: &mut mpsc::Receiver<Verdict>, within: Duration) -> Verdict {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("no verdict in time")
        .expect("tracker ended")
}

async fn none(rx: &mut mpsc::Receiver<Verdict>, during: Duration) {
    if let Ok(v) = tokio::time::timeout(during, rx.recv()).await {
        panic!("unexpected verdict {v:?}");
    }
}

fn v(tracker: usize, status: Status) -> Verdict {
    Verdict {
        tracker,
        status,
        value: None,
    }
}

#[test]
fn process_counts_follow_real_processes() {
    if !common::require_root("process_counts_follow_real_processes") {
        return;
    }
    let dir = common::TempDir::new("tproc");
    let (name, bin) = unique_sleep(&dir, 'a');
    let arg = format!("{}.5", 900_000 + std::process::id() % 1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut quorum2 = spec("q2", &[&name]);
        quorum2.quorum = 2;
        let args = spec("args", &["sleep", &arg]);
        let mut at_most_one = spec("max1", &[&name]);
        at_most_one.quorum_max = Some(1);
        let (tx, mut rx) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut procs = Procs(Vec::new());
        // One of `name` already running before the tracker starts: found by the /proc scan.
        let first = procs.start(&bin, &["1000"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        process::start_all(
            vec![(0, quorum2), (1, args), (2, at_most_one)],
            &tx,
            &stop,
            &mut tasks,
        );
        let mut initial = vec![
            next(&mut rx, EVENT).await,
            next(&mut rx, EVENT).await,
            next(&mut rx, EVENT).await,
        ];
        initial.sort_by_key(|v| v.tracker);
        assert_eq!(
            initial,
            vec![v(0, Status::Down), v(1, Status::Down), v(2, Status::Up)]
        );
        // A second one: quorum 2 met, quorum_max 1 exceeded.
        let second = procs.start(&bin, &["1000"]);
        let mut got = vec![next(&mut rx, EVENT).await, next(&mut rx, EVENT).await];
        got.sort_by_key(|v| v.tracker);
        assert_eq!(got, vec![v(0, Status::Up), v(2, Status::Down)]);
        // `sleep ARG` by its comm and exact argument; `sleep ARG extra` does not match.
        let other = procs.start(std::path::Path::new("/bin/sleep"), &[&arg, "1"]);
        none(&mut rx, Duration::from_millis(300)).await;
        let s = procs.start(std::path::Path::new("/bin/sleep"), &[&arg]);
        assert_eq!(next(&mut rx, EVENT).await, v(1, Status::Up));
        procs.kill(other);
        none(&mut rx, Duration::from_millis(300)).await;
        procs.kill(s);
        assert_eq!(next(&mut rx, EVENT).await, v(1, Status::Down));
        // Back to one `name`.
        procs.kill(first);
        let mut got = vec![next(&mut rx, EVENT).await, next(&mut rx, EVENT).await];
        got.sort_by_key(|v| v.tracker);
        assert_eq!(got, vec![v(0, Status::Down), v(2, Status::Up)]);
        procs.kill(second);
        assert_eq!(next(&mut rx, EVENT).await, v(2, Status::Down));
        none(&mut rx, Duration::from_millis(300)).await;
        stop.cancel();
        while tasks.join_next().await.is_some() {}
    });
}

#[test]
fn terminate_delay_holds_the_down_verdict_and_a_return_cancels_it() {
    if !common::require_root("terminate_delay_holds_the_down_verdict_and_a_return_cancels_it") {
        return;
    }
    let dir = common::TempDir::new("tprocd");
    let (name, bin) = unique_sleep(&dir, 'b');
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut p = spec("delayed", &[&name]);
        p.terminate_delay = Some(Duration::from_millis(1500));
        p.fork_delay = Some(Duration::ZERO);
        let (tx, mut rx) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut procs = Procs(Vec::new());
        process::start_all(vec![(7, p)], &tx, &stop, &mut tasks);
        assert_eq!(next(&mut rx, EVENT).await, v(7, Status::Down));
        let a = procs.start(&bin, &["1000"]);
        assert_eq!(next(&mut rx, EVENT).await, v(7, Status::Up));
        // Dies and comes back within the delay: nothing is reported.
        procs.kill(a);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b = procs.start(&bin, &["1000"]);
        none(&mut rx, Duration::from_millis(1800)).await;
        // Dies for good: reported after the delay, not before.
        let t0 = tokio::time::Instant::now();
        procs.kill(b);
        assert_eq!(
            next(&mut rx, Duration::from_millis(1500) + EVENT).await,
            v(7, Status::Down)
        );
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(1450),
            "down after {waited:?}"
        );
        stop.cancel();
        while tasks.join_next().await.is_some() {}
    });
}
