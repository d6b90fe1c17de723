//! `failover-bench`: failover times of a VRRP pair (vrrpd or keepalived on both boxes) in the
//! system-test lab, printed as markdown tables (median, quartiles, min and max of N runs, and a
//! Mann-Whitney p-value between two implementations).
//!
//! Owns the benchmark loop only; the lab, events and measurements are the system tests' own
//! (`system_tests::scenario`), so the benchmark and the tests time failovers the same way. Each run
//! uses a fresh lab. The failure is injected `(i + 0.5)/N` of an advert interval after one of A's
//! adverts on the wire (run i of N), sweeping the phase of the master's advert cycle identically
//! for every implementation.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use system_tests::capture::adverts_from;
use system_tests::poll::Stamp;
use system_tests::scenario::{mann_whitney_p, median, quantile};
use system_tests::{Event, Impl, Instance, Node, Pair};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Failover times of a VRRP pair in network namespaces (needs root)")]
struct Args {
    /// Implementations to measure (both boxes run the same one): vrrpd, keepalived.
    #[arg(long = "impl", value_name = "IMPL", default_values = ["keepalived", "vrrpd"])]
    imps: Vec<String>,
    /// Runs per cell.
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Advert modes: v2 (VRRPv2, 1 s, PASS) and v3fast (VRRPv3, 50 ms).
    #[arg(long = "mode", default_values = ["v2", "v3fast"])]
    modes: Vec<String>,
    /// Events: sigterm, sigkill, linkdown.
    #[arg(long = "event", default_values = ["sigterm", "sigkill", "linkdown"])]
    events: Vec<String>,
}

/// One advert configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    V2,
    V3Fast,
}

impl Mode {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "v2" => Ok(Mode::V2),
            "v3fast" => Ok(Mode::V3Fast),
            other => bail!("unknown mode {other:?} (want v2 or v3fast)"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::V2 => "v2, advert_int 1 s",
            Mode::V3Fast => "v3, advert_int 50 ms",
        }
    }

    fn instance(self, master: bool) -> Instance {
        match self {
            Mode::V2 => Instance::seed(master),
            Mode::V3Fast => Instance::seed(master).v3(Duration::from_millis(50)),
        }
    }
}

fn parse_event(s: &str) -> Result<Event> {
    match s {
        "sigterm" => Ok(Event::Sigterm),
        "sigkill" => Ok(Event::Sigkill),
        "linkdown" => Ok(Event::LinkDown),
        other => bail!("unknown event {other:?} (want sigterm, sigkill or linkdown)"),
    }
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Event -> VIP seen on B.
    takeover: Duration,
    /// Wire: A's last advert (or priority-0 advert) -> B's first advert.
    wire: Option<Duration>,
    /// A's last advert (or priority-0 advert) on the wire -> VIP seen on B.
    anchor_to_vip: Option<Duration>,
    /// Wire: B's first advert -> B's first gratuitous ARP.
    advert_to_garp: Option<Duration>,
    /// Silent failures: A's last advert -> the event.
    phase: Option<Duration>,
}

fn run_once(imp: Impl, mode: Mode, event: Event, run: u32, runs: u32) -> Result<Sample> {
    let test = format!("bench{}", run);
    let mut pair = Pair::start(&test, imp, mode.instance(true), imp, mode.instance(false))?;
    let bound = pair.election_bound();
    pair.wait_master(Node::A, bound)?;
    let interval = pair.conf_a.advert_int;
    // Settle for one interval, then inject at a chosen phase of A's advert cycle, measured from
    // A's last advert on the wire: (run + 0.5) / runs of an interval after it. Both
    // implementations get the same phases, so even "event -> VIP seen on B" compares like with
    // like (in real life the phase is uniformly random).
    pair.lab.sleep(interval);
    pair.wait_master(Node::A, Duration::from_millis(10))?;
    let target_phase = interval.mul_f64((f64::from(run) + 0.5) / f64::from(runs.max(1)));
    let last = adverts_from(&pair.frames()?, &Node::A.mac())
        .filter(|(_, a)| a.priority > 0)
        .map(|(f, _)| f.epoch_secs())
        .last()
        .context("no advert from A in the capture")?;
    // The first instant at that phase at least 5 ms from now (time to wake up on time).
    let lead = Stamp::now().epoch_secs() + 0.005;
    let period = interval.as_secs_f64();
    let mut at = last + target_phase.as_secs_f64();
    for _ in 0..1000 {
        if at >= lead {
            break;
        }
        at += period;
    }
    let wait = at - Stamp::now().epoch_secs();
    if wait > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
    let f = pair.failover(event, Duration::from_secs(2))?;
    eprintln!(
        "  {} {} {} run {}: {f}; anchor -> VIP on B {}; B advert -> B GARP {}",
        imp.label(),
        mode.label(),
        event.label(),
        run + 1,
        opt_ms(f.anchor_to_vip()),
        opt_ms(f.advert_to_announce()),
    );
    Ok(Sample {
        takeover: f.takeover_time(),
        wire: f.wire_gap(),
        anchor_to_vip: f.anchor_to_vip(),
        advert_to_garp: f.advert_to_announce(),
        phase: match event {
            Event::Sigterm => None,
            Event::Sigkill | Event::LinkDown => f.phase(),
        },
    })
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or("n/a".to_owned(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    })
}

/// Milliseconds, with one decimal below 10 ms.
fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// `median [p25–p75] (min–max)`.
fn cell(samples: &[Duration]) -> Result<String> {
    if samples.is_empty() {
        return Ok("n/a".to_owned());
    }
    let min = samples.iter().min().context("no samples")?;
    let max = samples.iter().max().context("no samples")?;
    Ok(format!(
        "{} [{}–{}] ({}–{})",
        ms(median(samples)?),
        ms(quantile(samples, 0.25)?),
        ms(quantile(samples, 0.75)?),
        ms(*min),
        ms(*max)
    ))
}

type Results = BTreeMap<(Mode, usize, Impl), Vec<Sample>>;

/// One markdown table of one measure: a column per implementation and, with exactly two
/// implementations, the difference of medians (second − first) and the Mann-Whitney p-value.
fn table(
    title: &str,
    results: &Results,
    modes: &[Mode],
    events: &[Event],
    imps: &[Impl],
    measure: impl Fn(&Sample) -> Option<Duration>,
) -> Result<()> {
    println!("{title}\n");
    let header: Vec<&str> = imps.iter().map(|i| i.label()).collect();
    let pair = imps.len() == 2;
    let extra = if pair {
        format!(" {} − {} | p |", header[1], header[0])
    } else {
        String::new()
    };
    println!("| mode | event | {} |{extra}", header.join(" | "));
    println!(
        "|---|---|{}{}",
        "---|".repeat(imps.len()),
        if pair { "---|---|" } else { "" }
    );
    for &mode in modes {
        for (ei, &event) in events.iter().enumerate() {
            let columns: Vec<Vec<Duration>> = imps
                .iter()
                .map(|&imp| {
                    results
                        .get(&(mode, ei, imp))
                        .map(|v| v.iter().filter_map(&measure).collect())
                        .unwrap_or_default()
                })
                .collect();
            if columns.iter().all(Vec::is_empty) {
                continue;
            }
            let cells = columns
                .iter()
                .map(|c| cell(c))
                .collect::<Result<Vec<_>>>()?;
            let mut line = format!(
                "| {} | {} | {} |",
                mode.label(),
                event.label(),
                cells.join(" | ")
            );
            if pair {
                let (a, b) = (&columns[0], &columns[1]);
                if a.is_empty() || b.is_empty() {
                    line.push_str(" n/a | n/a |");
                } else {
                    let diff = median(b)?.as_secs_f64() - median(a)?.as_secs_f64();
                    let p = mann_whitney_p(a, b).map_or("n/a".to_owned(), |p| format!("{p:.2}"));
                    line.push_str(&format!(" {:+.1} | {p} |", diff * 1e3));
                }
            }
            println!("{line}");
        }
    }
    println!();
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !nix::unistd::geteuid().is_root() {
        bail!("failover-bench needs root (network namespaces)");
    }
    let imps = args
        .imps
        .iter()
        .map(|s| Impl::from_label(s))
        .collect::<Result<Vec<_>>>()?;
    let modes = args
        .modes
        .iter()
        .map(|s| Mode::parse(s))
        .collect::<Result<Vec<_>>>()?;
    let events = args
        .events
        .iter()
        .map(|s| parse_event(s))
        .collect::<Result<Vec<_>>>()?;
    let mut versions = Vec::new();
    for imp in &imps {
        versions.push(format!(
            "{}: {} ({})",
            imp.label(),
            imp.version()?,
            imp.binary()?.display()
        ));
    }
    let mut results: Results = BTreeMap::new();
    for &mode in &modes {
        for (ei, &event) in events.iter().enumerate() {
            for &imp in &imps {
                for run in 0..args.runs {
                    let sample = run_once(imp, mode, event, run, args.runs).with_context(|| {
                        format!(
                            "{} {} {} run {}",
                            imp.label(),
                            mode.label(),
                            event.label(),
                            run + 1
                        )
                    })?;
                    results.entry((mode, ei, imp)).or_default().push(sample);
                }
            }
        }
    }

    println!("Failover, box A (master, priority 101) -> box B (backup, priority 100).");
    println!(
        "Cells: median [p25–p75] (min–max) in ms over {} runs; p = two-sided Mann-Whitney U \
         (normal approximation).\n",
        args.runs
    );
    table(
        "Event -> VIP seen on B (what a client sees; for silent failures it includes where in \
         A's advert cycle the failure fell):",
        &results,
        &modes,
        &events,
        &imps,
        |s| Some(s.takeover),
    )?;
    table(
        "On the wire, the anchor -> B's first advert: SIGTERM = A's priority-0 advert (RFC: \
         Skew_Time), SIGKILL / link down = A's last advert (RFC: Master_Down_Interval):",
        &results,
        &modes,
        &events,
        &imps,
        |s| s.wire,
    )?;
    table(
        "Anchor on the wire -> VIP seen on B (B's timer and VIP add; independent of the phase; \
         includes the poll lag):",
        &results,
        &modes,
        &events,
        &imps,
        |s| s.anchor_to_vip,
    )?;
    table(
        "On the wire, B's first advert -> B's first gratuitous ARP (B's VIP add and announce path):",
        &results,
        &modes,
        &events,
        &imps,
        |s| s.advert_to_garp,
    )?;
    table(
        "Silent failures: A's last advert -> the event (the phase: random in real life, swept \
         here as (run + 0.5)/runs of an interval for both):",
        &results,
        &modes,
        &events,
        &imps,
        |s| s.phase,
    )?;
    println!();
    for v in versions {
        println!("- {v}");
    }
    Ok(())
}
