//! `failover-bench`: failover times of a VRRP pair (vrrpd or keepalived on both boxes) in the
//! system-test lab, printed as a markdown table (median, min and max of N runs).
//!
//! Owns the benchmark loop only; the lab, events and measurements are the system tests' own
//! (`system_tests::scenario`), so the benchmark and the tests time failovers the same way. Each run
//! uses a fresh lab. The failure is injected `interval × (1 + i/N)` after the election (run i of
//! N), sweeping the phase of the master's advert cycle identically for every implementation.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use system_tests::scenario::median;
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
}

fn run_once(imp: Impl, mode: Mode, event: Event, run: u32, runs: u32) -> Result<Sample> {
    let test = format!("bench{}", run);
    let mut pair = Pair::start(&test, imp, mode.instance(true), imp, mode.instance(false))?;
    let bound = pair.election_bound();
    pair.wait_master(Node::A, bound)?;
    let interval = pair.conf_a.advert_int;
    let phase = interval.mul_f64(f64::from(run) / f64::from(runs.max(1)));
    pair.lab.sleep(interval + phase);
    pair.wait_master(Node::A, Duration::from_millis(10))?;
    let f = pair.failover(event, Duration::from_secs(2))?;
    let wire = match event {
        Event::Sigterm => f.after_priority_zero(),
        Event::Sigkill | Event::LinkDown => f.silence(),
    };
    eprintln!(
        "  {} {} {} run {}: {f}",
        imp.label(),
        mode.label(),
        event.label(),
        run + 1
    );
    Ok(Sample {
        takeover: f.takeover_time(),
        wire,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

fn cell(samples: &[Duration]) -> Result<String> {
    let min = samples.iter().min().context("no samples")?;
    let max = samples.iter().max().context("no samples")?;
    Ok(format!(
        "{} ({}–{})",
        ms(median(samples)?),
        ms(*min),
        ms(*max)
    ))
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
    let mut results: BTreeMap<(Mode, usize, Impl), Vec<Sample>> = BTreeMap::new();
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

    println!("Failover time, box A (master, priority 101) -> box B (backup, priority 100):");
    println!(
        "event -> VIP seen on B, in ms: median (min–max) of {} runs.\n",
        args.runs
    );
    let header: Vec<&str> = imps.iter().map(|i| i.label()).collect();
    println!("| mode | event | {} |", header.join(" | "));
    println!("|---|---|{}", "---|".repeat(imps.len()));
    for &mode in &modes {
        for (ei, &event) in events.iter().enumerate() {
            let mut cells = Vec::new();
            for &imp in &imps {
                let samples: Vec<Duration> = results
                    .get(&(mode, ei, imp))
                    .map(|v| v.iter().map(|s| s.takeover).collect())
                    .unwrap_or_default();
                cells.push(cell(&samples)?);
            }
            println!(
                "| {} | {} | {} |",
                mode.label(),
                event.label(),
                cells.join(" | ")
            );
        }
    }
    println!(
        "\nOn the wire (switch capture), in ms, median (min–max): SIGTERM = A's priority-0 advert ->"
    );
    println!(
        "B's first advert (RFC: Skew_Time); SIGKILL / link down = A's last advert -> B's first advert"
    );
    println!("(RFC: Master_Down_Interval).\n");
    println!("| mode | event | {} |", header.join(" | "));
    println!("|---|---|{}", "---|".repeat(imps.len()));
    for &mode in &modes {
        for (ei, &event) in events.iter().enumerate() {
            let mut cells = Vec::new();
            for &imp in &imps {
                let samples: Vec<Duration> = results
                    .get(&(mode, ei, imp))
                    .map(|v| v.iter().filter_map(|s| s.wire).collect())
                    .unwrap_or_default();
                cells.push(if samples.is_empty() {
                    "n/a".to_owned()
                } else {
                    cell(&samples)?
                });
            }
            println!(
                "| {} | {} | {} |",
                mode.label(),
                event.label(),
                cells.join(" | ")
            );
        }
    }
    println!();
    for v in versions {
        println!("- {v}");
    }
    Ok(())
}
