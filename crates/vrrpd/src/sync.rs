//! `vrrp_sync_group` coordination at run time: one task per group applies
//! `lbcore::vrrp::sync::Group` to its members' reports and sends the resulting commands to the
//! members' drivers; it logs keepalived's group lines and announces the group's state
//! (`GROUP "G1" MASTER 0`) through the notifier.
//!
//! Owns the channels between members and their group. Must not: decide anything itself (the
//! rules are lbcore's) or touch a state machine (drivers apply the commands).

use std::collections::HashMap;

use lbcore::config::vrrp::VrrpConfig;
use lbcore::vrrp::sync::{Command, Group, GroupState, Member};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock;
use crate::driver::DriverCmd;
use crate::notify::{self, Notifier};

/// A member's side of its group: where it reports its view.
#[derive(Debug, Clone)]
pub struct SyncPort {
    /// The group's name (logs).
    pub group: String,
    /// The member's index in the group.
    pub index: usize,
    /// Reports to the group task. Unbounded because a member only reports when its view
    /// changes, which the protocol's timers pace (a view flips to "wants master" at most once
    /// per Master_Down_Interval); losing a report would desynchronise the group.
    pub tx: mpsc::UnboundedSender<(usize, Member)>,
}

impl SyncPort {
    /// Reports `view` (ignored once the group task has stopped).
    pub fn report(&self, view: Member) {
        let _ = self.tx.send((self.index, view));
    }
}

/// Each group's last announced state, by name: kept across a reload so a rebuilt group task
/// does not announce the state it is already in.
pub type Announced = crate::status::Shared<HashMap<String, GroupState>>;

/// The groups of `config`: for every instance index, its port (or `None` outside any group),
/// and the tasks. `cmds[i]` is instance `i`'s driver command channel. Groups naming an unknown
/// instance were rejected when the configuration was loaded; a member missing here is skipped.
/// `announced` holds what earlier group tasks announced and is kept up to date.
pub fn spawn(
    config: &VrrpConfig,
    cmds: &[mpsc::Sender<DriverCmd>],
    notifier: Option<Notifier>,
    announced: &Announced,
    stop: CancellationToken,
) -> (Vec<Option<SyncPort>>, Vec<JoinHandle<()>>) {
    let mut ports: Vec<Option<SyncPort>> = vec![None; config.instances.len()];
    let mut tasks = Vec::new();
    for g in &config.sync_groups {
        let members: Vec<usize> = g
            .members
            .iter()
            .filter_map(|m| config.instances.iter().position(|i| &i.name == m))
            .collect();
        if members.is_empty() {
            continue;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        for (index, &inst) in members.iter().enumerate() {
            ports[inst] = Some(SyncPort {
                group: g.name.clone(),
                index,
                tx: tx.clone(),
            });
        }
        let member_cmds: Vec<mpsc::Sender<DriverCmd>> =
            members.iter().map(|&i| cmds[i].clone()).collect();
        let names: Vec<String> = members
            .iter()
            .map(|&i| config.instances[i].name.clone())
            .collect();
        let group = Group::resumed(members.len(), announced.lock().get(&g.name).copied());
        tasks.push(tokio::spawn(run(
            g.name.clone(),
            names,
            member_cmds,
            rx,
            notifier.clone(),
            (group, announced.clone()),
            stop.clone(),
        )));
    }
    (ports, tasks)
}

async fn run(
    name: String,
    members: Vec<String>,
    cmds: Vec<mpsc::Sender<DriverCmd>>,
    mut rx: mpsc::UnboundedReceiver<(usize, Member)>,
    notifier: Option<Notifier>,
    (mut group, announced): (Group, Announced),
    stop: CancellationToken,
) {
    loop {
        let (i, view) = tokio::select! {
            () = stop.cancelled() => return,
            r = rx.recv() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let d = group.update(i, view);
        for (j, c) in d.commands {
            match c {
                Command::GroupFault(true) => {
                    tracing::debug!(group = %name, member = %members[j], "group holds member in fault")
                }
                Command::StepDown => {
                    tracing::info!("VRRP_Group({name}) Syncing {} to BACKUP state", members[j])
                }
                Command::GoMaster => {
                    tracing::info!("VRRP_Group({name}) Syncing {} to MASTER state", members[j])
                }
                Command::GroupFault(false) => {}
            }
            if cmds[j].try_send(DriverCmd::Sync(c)).is_err() {
                tracing::error!(group = %name, member = %members[j], command = ?c, "sync command not delivered: member queue full or gone");
            }
        }
        if let Some(state) = d.announce {
            announced.lock().insert(name.clone(), state);
            announce(&name, state, notifier.as_ref());
        }
    }
}

fn announce(name: &str, state: GroupState, notifier: Option<&Notifier>) {
    let word = notify::Announced::from_state(state.as_state());
    match state {
        GroupState::Stop => tracing::debug!(group = %name, "group stopped"),
        _ => tracing::info!(
            "VRRP_Group({name}) Syncing instances to {} state",
            word.as_str()
        ),
    }
    if let Some(n) = notifier {
        // keepalived: group notifications carry priority 0.
        n.emit(notify::Event {
            subject: notify::Subject::Group,
            name: name.to_string(),
            state: word,
            priority: 0,
            at: clock::wall(),
        });
    }
}
