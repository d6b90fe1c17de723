//! proxyd: L4 load balancer for Exchange 2010 CAS. Only its command line exists so far; the
//! balancing itself is the next issue (docs/roadmap.md).

use clap::Parser;

/// Command line (HAProxy's flags).
#[derive(Debug, Parser)]
#[command(
    name = "proxyd",
    version,
    about = "L4 load balancer for Exchange 2010 CAS"
)]
struct Args {
    /// Configuration file (`.yaml`/`.yml` for YAML, otherwise haproxy.cfg).
    #[arg(short = 'f')]
    file: Option<std::path::PathBuf>,
    /// Check the configuration and exit.
    #[arg(short = 'c')]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::bail!(
        "proxyd is not implemented yet (issue: proxyd L4 load balancing); args: {:?}",
        args.file
    )
}
