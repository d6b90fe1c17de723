//! The stats page's admin actions: HAProxy's form `s=<server>&...&action=<a>&b=<#iid|name>`
//! applied to the generation in force.
//!
//! Owns decoding the form, resolving names and changing server states (operator state through
//! `ServerState::set_admin`, then `queue::server_changed` so queued connections react; `shutdown`
//! ends the server's sessions). It must not decide whether the client may act (the HTTP layer
//! does) nor render the result.

use std::net::SocketAddr;
use std::sync::Arc;

use lbcore::stats::Snapshot;
use lbcore::stats::html::ActionResult;

use crate::state::{Admin, Shared};

/// What an admin form asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `ready`: back to normal operation.
    Ready,
    /// `drain`: no new balanced connections.
    Drain,
    /// `maint`: no traffic.
    Maint,
    /// `shutdown`: end the server's sessions ("Kill Sessions").
    Shutdown,
}

impl Action {
    /// Parses HAProxy's action word; the health and agent actions are not supported.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "ready" => Some(Action::Ready),
            "drain" => Some(Action::Drain),
            "maint" => Some(Action::Maint),
            "shutdown" => Some(Action::Shutdown),
            _ => None,
        }
    }
}

/// Applies the urlencoded `form` to `shared` (`snap` resolves `b=#<iid>`); `listener` and
/// `client` go to the log. Returns HAProxy's result code: `ERRP` for an unknown action or
/// backend or when no named server exists, `NONE` when no server is selected, `PART` when some
/// names are unknown, else `DONE`.
pub fn apply(
    shared: &Arc<Shared>,
    snap: &Snapshot,
    form: &[u8],
    listener: &str,
    client: SocketAddr,
) -> ActionResult {
    let mut action = None;
    let mut backend = None;
    let mut servers = Vec::new();
    for (k, v) in form_urlencoded::parse(form) {
        match k.as_ref() {
            "action" => action = Some(v.into_owned()),
            "b" => backend = Some(v.into_owned()),
            "s" => servers.push(v.into_owned()),
            _ => {}
        }
    }
    let Some(action) = action.as_deref().and_then(Action::parse) else {
        return ActionResult::Errp;
    };
    let Some(b) = backend else {
        return ActionResult::Errp;
    };
    let name = match b.strip_prefix('#') {
        Some(id) => {
            let Ok(iid) = id.parse::<u32>() else {
                return ActionResult::Errp;
            };
            match snap.proxies.iter().find(|p| p.iid == iid) {
                Some(p) => p.name.clone(),
                None => return ActionResult::Errp,
            }
        }
        None => b,
    };
    let Some(bi) = shared.backend_index(&name) else {
        return ActionResult::Errp;
    };
    if servers.is_empty() {
        return ActionResult::None;
    }
    let cfg = &shared.config.backends[bi];
    let (mut done, mut unknown) = (0usize, 0usize);
    for s in &servers {
        let Some(si) = cfg.servers.iter().position(|c| &c.name == s) else {
            unknown += 1;
            continue;
        };
        let st = &shared.backends[bi].servers[si];
        match action {
            Action::Ready | Action::Drain | Action::Maint => {
                let to = match action {
                    Action::Ready => Admin::Ready,
                    Action::Drain => Admin::Drain,
                    _ => Admin::Maint,
                };
                let from = st.set_admin(to);
                crate::queue::server_changed(shared, bi, si, st.takes_traffic());
                tracing::info!(
                    listener,
                    %client,
                    backend = %name,
                    server = %s,
                    from = from.as_str(),
                    to = to.as_str(),
                    "stats admin action"
                );
            }
            Action::Shutdown => {
                st.shutdown_sessions();
                tracing::info!(listener, %client, backend = %name, server = %s, "stats admin shutdown sessions");
            }
        }
        done += 1;
    }
    match (done, unknown) {
        (0, _) => ActionResult::Errp,
        (_, 0) => ActionResult::Done,
        _ => ActionResult::Part,
    }
}
