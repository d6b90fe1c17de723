//! VRRP (v2: RFC 3768, v3: RFC 5798 as clarified by RFC 9568), without I/O.
//!
//! - [`packet`]: advertisement wire format and checksums; decoding never panics.
//! - [`announce`]: gratuitous ARP and unsolicited Neighbour Advertisement frames.
//! - [`track`]: tracker verdicts (scripts, processes, files, links) and keepalived's
//!   effective-priority arithmetic.
//! - [`timers`]: Skew_Time and Master_Down_Interval.
//! - [`sync`]: `vrrp_sync_group` rules (members move together).
//! - [`fsm`]: the per-instance state machine (Initialize / Backup / Master / Fault), driven by
//!   `handle_*` inputs and drained through `poll_action` / `poll_timeout`.
//!
//! The vrrpd driver owns sockets and clocks; nothing here reads either.

pub mod announce;
pub mod fsm;
pub mod packet;
pub mod sync;
pub mod timers;
pub mod track;

pub use packet::{Advert, AuthData, Version};
