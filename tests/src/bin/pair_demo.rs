//! `pair-demo`: the seed's two-box scenario end to end in network namespaces (the engine is
//! `system_tests::pair`), printed as a timeline, a table per event and a one-paragraph summary;
//! with `--runs N`, the medians over N runs (docs/benchmarks.md).
//!
//! Owns the command line, the printing and the signal handling: SIGINT / SIGTERM make every wait
//! of the engine return, so the lab is torn down (namespaces deleted, processes killed) before
//! the process exits with 130. Must not measure anything itself.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use system_tests::lab::Node;
use system_tests::pair::{
    self, CAS, CAS_PORTS, DELAYED, DEMO_NAME, Interrupted, Options, PairLab, Report, SMTP_ADDR,
    Setup, Step, StepReport, VIP,
};
use system_tests::scenario::median;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "pair-demo",
    about = "The seed's two-box scenario in network namespaces, with a timeline (needs root)"
)]
struct Args {
    /// What runs on the boxes: ours (vrrpd + proxyd), seed (keepalived + HAProxy with the
    /// seed's configs) or both (one after the other).
    #[arg(long = "impl", default_value = "ours", value_parser = ["ours", "seed", "both"])]
    imp: String,
    /// Runs per setup; more than one prints the medians per event instead of the timeline.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// Leave the lab running at the end and print how to explore it (one run, one setup).
    #[arg(long)]
    keep: bool,
    /// Remove a lab left by --keep and exit.
    #[arg(long)]
    clean: bool,
    /// Seconds to wait after each event's takeover before the next event.
    #[arg(long, default_value_t = 4.0)]
    settle: f64,
}

extern "C" fn on_signal(_: nix::libc::c_int) {
    pair::interrupt();
}

/// SIGINT and SIGTERM ask the engine to stop; the handler only stores an atomic flag. A handler
/// (rather than a blocked mask and sigwait) keeps the children's signal mask untouched.
fn install_signal_handlers() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: `on_signal` only performs an atomic store, which is async-signal-safe, and no
        // other code of this process installs handlers for these signals.
        #[allow(unsafe_code)]
        unsafe { sigaction(sig, &action) }.with_context(|| format!("sigaction {sig}"))?;
    }
    Ok(())
}

/// The seed's `vrrp_script` interval.
const SCRIPT_INTERVAL: Duration = Duration::from_secs(5);

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn opt_secs(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), secs)
}

fn print_intro(setup: Setup, opts: &Options) {
    println!(
        "The seed's pair in network namespaces: {}.",
        setup.describe()
    );
    println!(
        "  box A 192.0.2.11 (etc/keepalived/lb1.conf, priority 101), box B 192.0.2.12 (lb2.conf, \
         100), VIP {VIP}; VRID 51, PASS auth, smtp_alert"
    );
    println!(
        "  {} {} and {} {} serving {:?}; SMTP server {SMTP_ADDR}:25 (aiosmtpd)",
        CAS[0].0, CAS[0].1, CAS[1].0, CAS[1].1, CAS_PORTS
    );
    println!(
        "  client: {} sources 198.51.100.1-{}, {} long-lived RPC sessions (echo every {} ms), {} \
         connectors opening RPC connections (135, 60000, 60001) every {} ms each",
        opts.sources,
        opts.sources,
        opts.sessions,
        opts.session_ping.as_millis(),
        opts.connectors,
        opts.connect_every.as_millis()
    );
    println!();
}

fn print_timeline(r: &Report) {
    println!("{:>8}  {:<4} event", "t (s)", "VIP");
    for (t, holder, text) in r.timeline() {
        println!("{t:>8.2}  {holder:<4} {text}");
    }
    println!();
}

fn kept(s: &StepReport) -> String {
    if s.sources_seen == 0 {
        "-".to_owned()
    } else {
        format!("{}/{}", s.sources_kept, s.sources_seen)
    }
}

fn print_table(r: &Report) {
    println!(
        "| # | event | detection (s) | takeover (s) | client ARP (s) | new conns failed / delayed / tried | \
         failed or delayed after takeover | outage (s) | sessions broken (longest gap s) | clients on their CAS | mails |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (i, s) in r.steps.iter().enumerate() {
        let gap = match (s.sessions_broken, s.session_gap) {
            (0, _) => "0".to_owned(),
            (n, Some(g)) => format!("{n} ({})", secs(g)),
            (n, None) => format!("{n} ({} not reopened)", s.sessions_not_reopened),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {} | {} | {} |",
            i + 1,
            s.run.step.label(),
            opt_secs(s.detected),
            opt_secs(s.takeover),
            opt_secs(s.arp),
            s.failed,
            s.delayed,
            s.tried,
            s.bad_after_takeover,
            secs(s.outage),
            gap,
            kept(s),
            s.mails.len()
        );
    }
    println!();
    let reasons: Vec<String> = r
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.reasons.is_empty())
        .map(|(i, s)| {
            let list: Vec<String> = s.reasons.iter().map(|(w, n)| format!("{n} {w}")).collect();
            format!("[{}] {}", i + 1, list.join(", "))
        })
        .collect();
    if !reasons.is_empty() {
        println!("Failed connections: {}.", reasons.join("; "));
        println!();
    }
}

/// The one-paragraph summary.
fn summary(r: &Report) -> String {
    let mut p = format!(
        "Summary ({}): A held the VIP {} s after the VRRP daemons started. ",
        r.setup.describe(),
        secs(r.elected.since(r.daemons_started))
    );
    for s in &r.steps {
        let want = s.run.step.want();
        let moved = match s.takeover {
            Some(t) => format!(
                "the VIP was on {}{} after {} s",
                want.holder.label(),
                if want.sole { " alone" } else { "" },
                secs(t)
            ),
            None => format!("the VIP never reached {}", want.holder.label()),
        };
        let conns = if s.failed + s.delayed == 0 {
            "every new connection was answered at once".to_owned()
        } else {
            format!(
                "{} of {} new connections failed and {} were answered late (over {} ms: a SYN \
                 retransmitted), a {} s outage{}",
                s.failed,
                s.tried,
                s.delayed,
                DELAYED.as_millis(),
                secs(s.outage),
                if s.bad_after_takeover == 0 {
                    ", none after the takeover".to_owned()
                } else {
                    format!(", {} after the takeover", s.bad_after_takeover)
                }
            )
        };
        let sessions = match s.sessions_broken {
            0 => String::new(),
            n => format!(", {n} long-lived sessions broke and reconnected"),
        };
        p.push_str(&format!(
            "{}: {moved}, {conns}{sessions}. ",
            capitalise(s.run.step.label())
        ));
    }
    let (seen, kept): (usize, usize) = r
        .steps
        .iter()
        .fold((0, 0), |(a, b), s| (a + s.sources_seen, b + s.sources_kept));
    p.push_str(&format!(
        "Across the events, client sources stayed on the CAS they started on in {kept} of {seen} \
         (source, event) pairs (stick table replicated between the boxes). "
    ));
    let from = |n: Node| r.mails.iter().filter(|m| m.from_box == Some(n)).count();
    p.push_str(&format!(
        "The SMTP server received {} alert mails ({} from A, {} from B) for {} state transitions \
         the VRRP daemons logged.",
        r.mails.len(),
        from(Node::A),
        from(Node::B),
        r.transitions
    ));
    p
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

/// One run: builds the lab, drives the scenario, returns the report (and the lab when kept).
fn run_once(
    setup: Setup,
    opts: Options,
    settle: Duration,
    keep: bool,
    verbose: bool,
    phase: Duration,
) -> Result<Report> {
    let mut lab = PairLab::start(DEMO_NAME, setup, opts)?;
    if verbose {
        eprintln!(
            "pair-demo: lab up, A holds {VIP}; starting the client's traffic (files in {})",
            lab.lab.dir().display()
        );
    }
    lab.start_traffic()?;
    let (ta, tb) = lab.warm_up(Duration::from_secs(30))?;
    if verbose {
        eprintln!(
            "pair-demo: every source reached a CAS; stick tables: A {ta} entries, B {tb} \
             (replicated); now the events"
        );
    }
    pair::pause(phase)?;
    for step in Step::SCENARIO {
        if verbose {
            eprintln!("pair-demo: {}", step.describe(setup));
        }
        let run = lab.run_step(step)?;
        if run.takeover.is_none() {
            eprintln!(
                "pair-demo: {}: the VIP did not reach the expected state within 30 s",
                step.label()
            );
        }
        pair::pause(settle)?;
    }
    let report = lab.report()?;
    if keep {
        let text = lab.keep()?;
        print_intro(setup, &opts);
        print_timeline(&report);
        print_table(&report);
        println!("{}\n", wrap(&summary(&report), 100));
        println!("The lab is still running (--keep). Explore it:");
        println!("{text}");
        println!(
            "Remove it with: deploy/lab/demo --clean (or pair-demo --clean); the next lab run \
             (deploy/lab/demo, tests/run) removes it too."
        );
    }
    Ok(report)
}

fn main() {
    match real_main() {
        Ok(()) => {}
        Err(e) if e.is::<Interrupted>() || pair::interrupted() => {
            eprintln!("pair-demo: interrupted; the lab was torn down");
            std::process::exit(130);
        }
        Err(e) => {
            eprintln!("pair-demo: {e:#}");
            std::process::exit(1);
        }
    }
}

fn real_main() -> Result<()> {
    let args = Args::parse();
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "needs root (network namespaces, raw sockets): sudo {}",
            std::env::args().next().unwrap_or_default()
        );
    }
    if args.clean {
        let n = pair::remove_kept_labs(DEMO_NAME)?;
        println!("pair-demo: removed {n} namespaces of kept labs");
        return Ok(());
    }
    install_signal_handlers()?;
    let setups: Vec<Setup> = match args.imp.as_str() {
        "both" => Setup::ALL.to_vec(),
        one => vec![Setup::from_label(one)?],
    };
    ensure!(args.runs >= 1, "--runs must be at least 1");
    ensure!(
        !args.keep || (args.runs == 1 && setups.len() == 1),
        "--keep needs one run of one setup"
    );
    ensure!(
        args.settle.is_finite() && (0.5..=60.0).contains(&args.settle),
        "--settle must be between 0.5 and 60 seconds"
    );
    let settle = Duration::from_secs_f64(args.settle);
    let opts = Options::default();
    let mut all: Vec<(Setup, Vec<Report>)> = Vec::new();
    for &setup in &setups {
        let mut reports = Vec::new();
        for run in 1..=args.runs {
            if args.runs > 1 {
                eprintln!("pair-demo: {} run {run}/{}", setup.label(), args.runs);
            }
            let single = args.runs == 1;
            // Several runs: the first event falls at evenly spread phases of the seed's 5 s
            // script interval ((k - 0.5) / N × 5 s after the warm-up), the same for both setups,
            // so the seed's detection delay is sampled over its whole range.
            let phase = if single {
                Duration::ZERO
            } else {
                SCRIPT_INTERVAL.mul_f64((f64::from(run) - 0.5) / f64::from(args.runs))
            };
            let report = run_once(setup, opts, settle, args.keep, single, phase)?;
            if single && !args.keep {
                print_intro(setup, &opts);
                print_timeline(&report);
                print_table(&report);
                println!("{}\n", wrap(&summary(&report), 100));
            } else if !single {
                let cells: Vec<String> = report
                    .steps
                    .iter()
                    .map(|s| format!("{} {}/{}/{}", secs(s.outage), s.failed, s.delayed, s.tried))
                    .collect();
                eprintln!(
                    "  outage s, failed/delayed/tried per event: {}",
                    cells.join(" | ")
                );
            }
            reports.push(report);
        }
        all.push((setup, reports));
    }
    if args.runs > 1 {
        print_medians(&all, args.runs)?;
    }
    Ok(())
}

fn med(values: Vec<Duration>) -> String {
    median(&values).map_or("-".to_owned(), secs)
}

fn med_count(mut values: Vec<usize>) -> String {
    if values.is_empty() {
        return "-".to_owned();
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid].to_string()
    } else {
        format!("{}", (values[mid - 1] + values[mid]) as f64 / 2.0)
    }
}

fn print_medians(all: &[(Setup, Vec<Report>)], runs: u32) -> Result<()> {
    println!(
        "Median of {runs} runs per event (seconds; counts are medians too); the first event \
         falls at phases (k - 0.5) / {runs} × 5 s after the warm-up. Outage: from the \
         first new connection that failed or was answered late (over {} ms) to the first prompt \
         answer after the last of those.\n",
        DELAYED.as_millis()
    );
    println!(
        "| event | setup | client-visible outage | new conns failed / delayed / tried | failed or \
         delayed after takeover | detection | takeover | sessions broken | clients on their CAS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, step) in Step::SCENARIO.iter().enumerate() {
        for (setup, reports) in all {
            let col = |f: &dyn Fn(&StepReport) -> Option<Duration>| {
                med(reports
                    .iter()
                    .filter_map(|r| r.steps.get(i))
                    .filter_map(f)
                    .collect())
            };
            let cnt = |f: &dyn Fn(&StepReport) -> usize| {
                med_count(
                    reports
                        .iter()
                        .filter_map(|r| r.steps.get(i))
                        .map(f)
                        .collect(),
                )
            };
            let (seen, kept): (usize, usize) = reports
                .iter()
                .filter_map(|r| r.steps.get(i))
                .fold((0, 0), |(a, b), s| (a + s.sources_seen, b + s.sources_kept));
            println!(
                "| {} | {} | {} | {} / {} / {} | {} | {} | {} | {} | {kept}/{seen} |",
                step.label(),
                setup.label(),
                col(&|s| Some(s.outage)),
                cnt(&|s| s.failed),
                cnt(&|s| s.delayed),
                cnt(&|s| s.tried),
                cnt(&|s| s.bad_after_takeover),
                col(&|s| s.detected),
                col(&|s| s.takeover),
                cnt(&|s| s.sessions_broken),
            );
        }
    }
    println!();
    for (setup, reports) in all {
        let mails: Vec<usize> = reports.iter().map(|r| r.mails.len()).collect();
        let transitions: Vec<usize> = reports.iter().map(|r| r.transitions).collect();
        println!(
            "- {}: {}; mails per run {mails:?} for state transitions logged {transitions:?}",
            setup.label(),
            setup.describe()
        );
    }
    Ok(())
}
