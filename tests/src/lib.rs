//! System-test harness for vrrpd: real daemons (ours and Debian's keepalived) in network
//! namespaces, driven through failures and timed against the RFC bounds.
//!
//! The crate owns the lab ([`lab::Lab`]: namespaces, bridge, probes, events), process handling
//! ([`process::Proc`], [`daemon::Daemon`]), packet capture ([`capture`]), keepalived.conf
//! generation and the RFC timer formulas ([`config`]), bounded polling ([`poll`]) and the shared
//! two-box scenarios ([`scenario`]) used by the tests in `tests/` and by the `failover-bench`
//! binary. It must never touch a namespace or process it did not create, and every wait in it is
//! bounded in both iterations and time.

pub mod capture;
pub mod checks;
pub mod config;
pub mod daemon;
pub mod lab;
pub mod ops;
pub mod pair;
pub mod poll;
pub mod process;
pub mod scenario;

pub use config::{Family, Garp, Instance, VIP4, VIP6};
pub use daemon::{Daemon, Impl};
pub use lab::{Lab, Node, root_or_skip};
pub use scenario::{Event, Failover, Pair};

/// True when the environment says this is CI (`CI=true`): root-only tests must then fail, not skip.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}
