//! Interface trackers against real links: a veth pair inside a namespace this test creates;
//! carrier toggled from the peer end, admin state, rename and deletion, each verdict asserted.

mod common;

use std::time::Duration;

use lbcore::vrrp::track::Status;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vrrpd::track::{Verdict, iface};

/// rtnetlink delivers at once; this absorbs a loaded machine.
const EVENT: Duration = Duration::from_millis(700);

fn v(tracker: usize, status: Status) -> Verdict {
    Verdict {
        tracker,
        status,
        value: None,
    }
}

async fn take(rx: &mut mpsc::Receiver<Verdict>, n: usize) -> Vec<Verdict> {
    let mut got = Vec::new();
    for _ in 0..n {
        let v = tokio::time::timeout(EVENT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("verdict {} of {n} not in time; got {got:?}", got.len() + 1))
            .expect("tracker ended");
        got.push(v);
    }
    got.sort_by_key(|v| v.tracker);
    got
}

async fn none(rx: &mut mpsc::Receiver<Verdict>) {
    if let Ok(v) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        panic!("unexpected verdict {v:?}");
    }
}

#[test]
fn link_state_follows_carrier_admin_state_rename_and_deletion() {
    if !common::require_root("link_state_follows_carrier_admin_state_rename_and_deletion") {
        return;
    }
    let ns = common::Netns::new("tif");
    ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
    ns.run_inside(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel(64);
            let stop = CancellationToken::new();
            let mut tasks = tokio::task::JoinSet::new();
            iface::start_all(
                vec![(0, "va".into()), (1, "trk9".into()), (2, "vb".into())],
                &tx,
                &stop,
                &mut tasks,
            );
            // Both ends down, and an interface that does not exist: all down.
            assert_eq!(
                take(&mut rx, 3).await,
                vec![v(0, Status::Down), v(1, Status::Down), v(2, Status::Down)]
            );
            // va up alone has no carrier (its peer is down): still down.
            ns.ip(&["link", "set", "va", "up"]);
            none(&mut rx).await;
            ns.ip(&["link", "set", "vb", "up"]);
            assert_eq!(
                take(&mut rx, 2).await,
                vec![v(0, Status::Up), v(2, Status::Up)]
            );
            // Peer down: va loses carrier.
            ns.ip(&["link", "set", "vb", "down"]);
            assert_eq!(
                take(&mut rx, 2).await,
                vec![v(0, Status::Down), v(2, Status::Down)]
            );
            ns.ip(&["link", "set", "vb", "up"]);
            assert_eq!(
                take(&mut rx, 2).await,
                vec![v(0, Status::Up), v(2, Status::Up)]
            );
            // Renamed: va is gone (down), its new name trk9 is tracked and comes up.
            ns.ip(&["link", "set", "va", "down"]);
            assert_eq!(
                take(&mut rx, 2).await,
                vec![v(0, Status::Down), v(2, Status::Down)]
            );
            ns.ip(&["link", "set", "va", "name", "trk9"]);
            none(&mut rx).await;
            ns.ip(&["link", "set", "trk9", "up"]);
            assert_eq!(
                take(&mut rx, 2).await,
                vec![v(1, Status::Up), v(2, Status::Up)]
            );
            // Deleted (the pair goes with it).
            ns.ip(&["link", "del", "trk9"]);
            assert_eq!(
                take(&mut rx, 2).await,
                vec![v(1, Status::Down), v(2, Status::Down)]
            );
            none(&mut rx).await;
            stop.cancel();
            while tasks.join_next().await.is_some() {}
        });
    });
}
