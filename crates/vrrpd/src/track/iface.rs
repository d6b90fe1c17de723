//! Interface trackers (`track_interface`, and each instance's own interface unless
//! `dont_track_primary`): link up/down from rtnetlink events.
//!
//! Owns: one route netlink socket subscribed to `RTNLGRP_LINK` for every tracked interface, the
//! table of links (index → name, up), and the verdicts. A link is up when it is administratively
//! up (`IFF_UP`) and has carrier (`IFF_RUNNING`, i.e. operational state up), as keepalived's
//! `IF_ISUP`. An interface that does not exist (at start, deleted, or renamed away) is down,
//! with a warning, never a fatal error; one renamed to a tracked name is picked up. Sends a
//! [`Verdict`] only on a change. Must not: compute priorities or touch addresses.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use lbcore::vrrp::track::Status;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::constants::RTMGRP_LINK;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::sys::{AsyncSocket, SocketAddr};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;

/// A link as the kernel reports it: its name and whether it is up with carrier.
fn link_state(msg: &LinkMessage) -> Option<(String, bool)> {
    let name = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })?;
    let flags = msg.header.flags;
    Some((
        name,
        flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
    ))
}

/// The links seen and the trackers' last verdicts.
#[derive(Debug, Default)]
struct Links {
    by_index: BTreeMap<u32, (String, bool)>,
    trackers: Vec<(usize, String, Option<Status>)>,
}

impl Links {
    fn status(&self, name: &str) -> Option<Status> {
        self.by_index
            .values()
            .find(|(n, _)| n == name)
            .map(|&(_, up)| if up { Status::Up } else { Status::Down })
    }

    fn verdicts(&mut self) -> Vec<Verdict> {
        let mut out = Vec::new();
        for i in 0..self.trackers.len() {
            let found = self.status(&self.trackers[i].1);
            let (index, name, reported) = &mut self.trackers[i];
            let now = found.unwrap_or(Status::Down);
            if *reported == Some(now) {
                continue;
            }
            match (found, now) {
                (None, _) => {
                    tracing::warn!(interface = %name, "tracked interface {} does not exist; treated as down", name);
                }
                (Some(_), Status::Up) => {
                    tracing::info!(interface = %name, "tracked interface {} is up", name);
                }
                _ => {
                    tracing::warn!(interface = %name, "tracked interface {} is down", name);
                }
            }
            *reported = Some(now);
            out.push(Verdict {
                tracker: *index,
                status: now,
                value: None,
            });
        }
        out
    }
}

/// Starts watching the links named in `interfaces`; sends a [`Verdict`] on each change.
pub fn start_all(
    interfaces: Vec<(usize, String)>,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    if interfaces.is_empty() {
        return;
    }
    let links = Links {
        by_index: BTreeMap::new(),
        trackers: interfaces.into_iter().map(|(i, n)| (i, n, None)).collect(),
    };
    let (tx, stop) = (tx.clone(), stop.clone());
    tasks.spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = run(links, tx) => {}
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

async fn run(mut links: Links, tx: mpsc::Sender<Verdict>) {
    let (mut conn, handle, mut events) = match rtnetlink::new_connection() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot open a route netlink socket; tracked interfaces are not watched");
            return;
        }
    };
    // Subscribe before the dump: a change in between is seen by both, never by neither.
    if let Err(e) = conn
        .socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, RTMGRP_LINK))
    {
        tracing::error!(error = %e, "cannot subscribe to link events; tracked interfaces are not watched");
        return;
    }
    let conn_task = tokio::spawn(conn);
    let _abort = AbortOnDrop(conn_task);
    let mut dump = handle.link().get().execute();
    loop {
        match dump.try_next().await {
            Ok(Some(msg)) => {
                if let Some(state) = link_state(&msg) {
                    links.by_index.insert(msg.header.index, state);
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::error!(error = %e, "listing links failed; tracked interfaces start as down");
                break;
            }
        }
    }
    drop(dump);
    if !send_all(&tx, links.verdicts()).await {
        return;
    }
    while let Some((msg, _)) = events.next().await {
        match msg.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                if let Some(state) = link_state(&m) {
                    links.by_index.insert(m.header.index, state);
                }
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => {
                links.by_index.remove(&m.header.index);
            }
            _ => continue,
        }
        if !send_all(&tx, links.verdicts()).await {
            return;
        }
    }
    tracing::error!("link event stream ended; tracked interfaces are no longer watched");
}

/// Stops the netlink connection task with the tracker.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
