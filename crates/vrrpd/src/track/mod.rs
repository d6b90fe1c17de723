//! Trackers: the things whose health moves an instance's priority or puts it in FAULT
//! (`vrrp_script`, `vrrp_track_process`, `track_interface`, `track_file`, and proxyd's liveness).
//!
//! Owns the [`Hub`]: every tracker task sends [`Verdict`]s into one channel; the hub keeps each
//! tracker's last [`Status`], recomputes the instances that tracker feeds with
//! `lbcore::vrrp::track` (keepalived's arithmetic), and publishes each instance's
//! [`InstanceTrack`] on a watch channel its driver listens to. It must not run checks itself
//! (the tracker modules do) nor touch the state machine (the driver applies what it receives).

pub mod file;
pub mod iface;
pub mod process;
pub mod proxyd;
pub mod script;

use std::collections::{BTreeMap, HashMap};

use lbcore::config::vrrp::{
    TrackFile, TrackProcess, TrackProxyd, TrackRef, VrrpConfig, VrrpScript, Weight,
};
use lbcore::vrrp::track::{self, Effect, Status};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Verdicts queued between tracker tasks and the hub. A tracker only sends on a change, so this
/// bounds bursts, not steady traffic.
pub const VERDICT_QUEUE: usize = 256;

/// What kind of tracker (for status output and log lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `vrrp_script`.
    Script,
    /// `vrrp_track_process`.
    Process,
    /// `track_interface` (and the instance's own interface, tracked by default).
    Interface,
    /// `track_file`.
    File,
    /// proxyd's pid file and liveness socket (DESIGN §1).
    Proxyd,
}

impl Kind {
    /// Lower-case name used in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Script => "script",
            Kind::Process => "process",
            Kind::Interface => "interface",
            Kind::File => "file",
            Kind::Proxyd => "proxyd",
        }
    }
}

/// One instance a tracker feeds, with the weight that applies there (the instance's
/// `track_* { NAME weight N }` override, else the tracker's own weight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Index of the instance (in the order drivers are built).
    pub instance: usize,
    /// Weight in that instance.
    pub weight: Weight,
}

/// A tracker as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerSpec {
    /// Name (block name, interface name, ...).
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Instances it feeds.
    pub links: Vec<Link>,
    /// Status before the first verdict (`Init` for scripts, `Down` with `init_fail`, ...).
    pub initial: Status,
}

/// A tracker's new status, sent by its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Index of the tracker in the hub's specs.
    pub tracker: usize,
    /// What it now says.
    pub status: Status,
    /// For `track_file`: the number read (its effect is value × weight).
    pub value: Option<i64>,
}

/// One tracker's share in an instance's priority (for `vrrpd status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Tracker name.
    pub name: String,
    /// Tracker kind.
    pub kind: Kind,
    /// Its status.
    pub status: Status,
    /// What it does to the instance.
    pub effect: Effect,
}

/// What a driver receives: its priority and fault flag as the trackers make them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTrack {
    /// Effective priority (base plus shares, clamped; the owner's 255 untouched).
    pub priority: u8,
    /// A tracker faults the instance.
    pub fault: bool,
    /// Each tracker's share, in tracker order.
    pub shares: Vec<Share>,
}

/// Each tracker's last status (and `track_file` value), by kind and name: what a reload's new
/// hub starts from, so that restarting the trackers does not move any priority (keepalived
/// keeps script results across a reload).
pub type Ledger = HashMap<(Kind, String), (Status, Option<i64>)>;

/// The verdict-to-priority hub (see the module documentation).
#[derive(Debug)]
pub struct Hub {
    specs: Vec<TrackerSpec>,
    statuses: Vec<(Status, Option<i64>)>,
    bases: Vec<u8>,
    outs: Vec<watch::Sender<InstanceTrack>>,
    ledger: crate::status::Shared<Ledger>,
}

impl Hub {
    /// A hub for `specs` feeding instances with base priorities `bases`; returns one watch
    /// receiver per instance, already holding the value the initial statuses give.
    pub fn new(
        specs: Vec<TrackerSpec>,
        bases: Vec<u8>,
    ) -> (Self, Vec<watch::Receiver<InstanceTrack>>) {
        let values = vec![None; specs.len()];
        Self::seeded(specs, bases, values)
    }

    /// [`Hub::new`] with a starting `track_file` value per tracker (a reload's carried ones).
    pub fn seeded(
        specs: Vec<TrackerSpec>,
        bases: Vec<u8>,
        values: Vec<Option<i64>>,
    ) -> (Self, Vec<watch::Receiver<InstanceTrack>>) {
        let statuses = specs
            .iter()
            .zip(values.into_iter().chain(std::iter::repeat(None)))
            .map(|(s, v)| (s.initial, v))
            .collect();
        let mut hub = Hub {
            specs,
            statuses,
            bases,
            outs: Vec::new(),
            ledger: crate::status::Shared::default(),
        };
        hub.record_ledger();
        let mut rxs = Vec::new();
        for i in 0..hub.bases.len() {
            let (tx, rx) = watch::channel(hub.compute(i));
            hub.outs.push(tx);
            rxs.push(rx);
        }
        (hub, rxs)
    }

    /// A handle on the statuses this hub holds, kept current as verdicts arrive.
    pub fn ledger(&self) -> crate::status::Shared<Ledger> {
        self.ledger.clone()
    }

    fn record_ledger(&self) {
        let mut l = self.ledger.lock();
        l.clear();
        for (spec, st) in self.specs.iter().zip(&self.statuses) {
            l.insert((spec.kind, spec.name.clone()), *st);
        }
    }

    /// The tracker specs, indexed like [`Verdict::tracker`].
    pub fn specs(&self) -> &[TrackerSpec] {
        &self.specs
    }

    /// What instance `i` gets from the current statuses.
    pub fn compute(&self, i: usize) -> InstanceTrack {
        let mut shares = Vec::new();
        for (spec, (status, value)) in self.specs.iter().zip(&self.statuses) {
            for link in spec.links.iter().filter(|l| l.instance == i) {
                let effect = match (spec.kind, value) {
                    (Kind::File, Some(v)) => track::file_effect(*v, link.weight),
                    _ => track::effect(link.weight, *status),
                };
                shares.push(Share {
                    name: spec.name.clone(),
                    kind: spec.kind,
                    status: *status,
                    effect,
                });
            }
        }
        let c = track::combine(self.bases[i], shares.iter().map(|s| s.effect));
        InstanceTrack {
            priority: c.priority,
            fault: c.fault,
            shares,
        }
    }

    /// Records a verdict and publishes the instances it changes; returns their indices.
    pub fn apply(&mut self, v: Verdict) -> Vec<usize> {
        let Some(slot) = self.statuses.get_mut(v.tracker) else {
            return Vec::new();
        };
        if *slot == (v.status, v.value) {
            return Vec::new();
        }
        *slot = (v.status, v.value);
        if let Some(spec) = self.specs.get(v.tracker) {
            self.ledger
                .lock()
                .insert((spec.kind, spec.name.clone()), (v.status, v.value));
        }
        let mut touched: Vec<usize> = self.specs[v.tracker]
            .links
            .iter()
            .map(|l| l.instance)
            .collect();
        touched.sort_unstable();
        touched.dedup();
        touched.retain(|&i| {
            let new = self.compute(i);
            self.outs
                .get(i)
                .is_some_and(|tx| tx.send_if_modified(|cur| replace_if_changed(cur, new)))
        });
        touched
    }

    /// Applies verdicts from `rx` until `stop` or until every tracker task has gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Verdict>, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                v = rx.recv() => match v {
                    Some(v) => {
                        self.apply(v);
                    }
                    None => return,
                },
            }
        }
    }
}

/// The running trackers of a daemon: one watch receiver per instance (in `config.instances`
/// order; `None` for an instance nothing tracks) and the tasks behind them.
#[derive(Debug, Default)]
pub struct Spawned {
    /// Per instance.
    pub receivers: Vec<Option<watch::Receiver<InstanceTrack>>>,
    /// Tracker tasks and the hub; they end when `stop` is cancelled.
    pub tasks: tokio::task::JoinSet<()>,
    /// The trackers' statuses as the hub holds them (empty when nothing is tracked).
    pub ledger: crate::status::Shared<Ledger>,
}

/// Builds the trackers `config` asks for, starts them and their hub.
///
/// Links follow keepalived: an instance's `track_*` entry links it with the entry's weight or
/// else the tracker's; a sync group's entries link every member; the instance's own interface
/// is tracked with weight 0 unless `dont_track_primary`. In a sync group, member entries with a
/// non-zero weight are ignored unless the group sets `sync_group_tracking_weight` (reference §1.7).
///
/// `carried` holds the statuses of a previous set of trackers (a reload): a tracker of the same
/// kind and name starts from that status instead of its initial one, and its task's first
/// verdict then only confirms or corrects it.
pub async fn spawn(config: &VrrpConfig, carried: &Ledger, stop: CancellationToken) -> Spawned {
    let mut plan = plan(config);
    for spec in &mut plan.specs {
        if let Some((status, _)) = carried.get(&(spec.kind, spec.name.clone())) {
            spec.initial = *status;
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    let bases = config.instances.iter().map(|i| i.priority).collect();
    let tracked: Vec<bool> = (0..config.instances.len())
        .map(|i| {
            plan.specs
                .iter()
                .any(|s| s.links.iter().any(|l| l.instance == i))
        })
        .collect();
    if plan.specs.is_empty() {
        return Spawned {
            receivers: tracked.iter().map(|_| None).collect(),
            tasks,
            ledger: crate::status::Shared::default(),
        };
    }
    let values: Vec<Option<i64>> = plan
        .specs
        .iter()
        .map(|s| carried.get(&(s.kind, s.name.clone())).and_then(|c| c.1))
        .collect();
    // A carried track_file value counts from the start too.
    let (hub, rxs) = Hub::seeded(plan.specs, bases, values);
    let ledger = hub.ledger();
    let (tx, rx) = mpsc::channel(VERDICT_QUEUE);
    script::start_all(plan.scripts, &config.global, &tx, &stop, &mut tasks);
    process::start_all(plan.processes, &tx, &stop, &mut tasks);
    file::start_all(plan.files, &tx, &stop, &mut tasks);
    iface::start_all(plan.interfaces, &tx, &stop, &mut tasks);
    proxyd::start_all(plan.proxyds, &tx, &stop, &mut tasks);
    drop(tx);
    tasks.spawn(hub.run(rx, stop));
    Spawned {
        receivers: rxs
            .into_iter()
            .zip(tracked)
            .map(|(rx, t)| t.then_some(rx))
            .collect(),
        tasks,
        ledger,
    }
}

/// Trackers to start, by kind, each with its index in `specs`.
#[derive(Debug, Default)]
pub struct Plan {
    /// Every tracker, in index order.
    pub specs: Vec<TrackerSpec>,
    /// `vrrp_script` blocks in use.
    pub scripts: Vec<(usize, VrrpScript)>,
    /// `vrrp_track_process` blocks in use.
    pub processes: Vec<(usize, TrackProcess)>,
    /// `track_file` blocks in use.
    pub files: Vec<(usize, TrackFile)>,
    /// Interfaces tracked (by name).
    pub interfaces: Vec<(usize, String)>,
    /// `track_proxyd` blocks in use.
    pub proxyds: Vec<(usize, TrackProxyd)>,
}

/// Which trackers `config` needs and which instances each feeds (see [`spawn`]).
pub fn plan(config: &VrrpConfig) -> Plan {
    let mut plan = Plan::default();
    let mut index: BTreeMap<(u8, String), usize> = BTreeMap::new();
    let group_of = |inst: &str| {
        config
            .sync_groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == inst))
    };
    for (i, inst) in config.instances.iter().enumerate() {
        let group = group_of(&inst.name);
        let weight_ok = |w: Weight| group.is_none_or(|g| g.tracking_weight) || w.value == 0;
        let mut refs: Vec<(Kind, &TrackRef, bool)> = Vec::new();
        for (kind, list) in [
            (Kind::Script, &inst.track_script),
            (Kind::Process, &inst.track_process),
            (Kind::File, &inst.track_file),
            (Kind::Interface, &inst.track_interface),
            (Kind::Proxyd, &inst.track_proxyd),
        ] {
            refs.extend(list.iter().map(|r| (kind, r, false)));
        }
        if let Some(g) = group {
            for (kind, list) in [
                (Kind::Script, &g.track_script),
                (Kind::Process, &g.track_process),
                (Kind::File, &g.track_file),
                (Kind::Interface, &g.track_interface),
                (Kind::Proxyd, &g.track_proxyd),
            ] {
                refs.extend(list.iter().map(|r| (kind, r, true)));
            }
        }
        for (kind, r, from_group) in refs {
            let Some((default, initial)) = lookup(config, kind, &r.name) else {
                // Validation reports unknown names; nothing to track.
                continue;
            };
            let weight = r.weight.unwrap_or(default);
            if !from_group && !weight_ok(weight) {
                tracing::warn!(instance = %inst.name, tracker = %r.name, "({}) ignoring weighted tracker {} of a sync group member (set sync_group_tracking_weight)", inst.name, r.name);
                continue;
            }
            let t = add(&mut plan, &mut index, config, kind, &r.name, initial);
            link(&mut plan.specs[t], i, weight);
        }
        if !inst.dont_track_primary {
            let t = add(
                &mut plan,
                &mut index,
                config,
                Kind::Interface,
                &inst.interface,
                Status::Init,
            );
            link(&mut plan.specs[t], i, Weight::default());
        }
    }
    plan
}

fn link(spec: &mut TrackerSpec, instance: usize, weight: Weight) {
    if !spec.links.iter().any(|l| l.instance == instance) {
        spec.links.push(Link { instance, weight });
    }
}

/// The tracker's own weight and initial status, if `name` names one of `kind`.
fn lookup(config: &VrrpConfig, kind: Kind, name: &str) -> Option<(Weight, Status)> {
    match kind {
        Kind::Script => config.scripts.get(name).map(|s| {
            let initial = if s.init_fail {
                Status::Down
            } else {
                Status::Init
            };
            (s.weight, initial)
        }),
        Kind::Process => config
            .track_processes
            .get(name)
            .map(|p| (p.weight, Status::Init)),
        Kind::File => config
            .track_files
            .get(name)
            .map(|f| (f.weight, Status::Init)),
        // An interface needs no block; weight 0 (FAULT while down) unless the entry says.
        Kind::Interface => Some((Weight::default(), Status::Init)),
        // Default weight 0: proxyd down faults the instance (the fast path, DESIGN §1).
        Kind::Proxyd => config
            .track_proxyds
            .get(name)
            .map(|p| (p.weight, Status::Init)),
    }
}

fn add(
    plan: &mut Plan,
    index: &mut BTreeMap<(u8, String), usize>,
    config: &VrrpConfig,
    kind: Kind,
    name: &str,
    initial: Status,
) -> usize {
    let key = (kind as u8, name.to_owned());
    if let Some(&t) = index.get(&key) {
        return t;
    }
    let t = plan.specs.len();
    plan.specs.push(TrackerSpec {
        name: name.to_owned(),
        kind,
        links: Vec::new(),
        initial,
    });
    index.insert(key, t);
    match kind {
        Kind::Script => plan
            .scripts
            .extend(config.scripts.get(name).map(|s| (t, s.clone()))),
        Kind::Process => plan
            .processes
            .extend(config.track_processes.get(name).map(|p| (t, p.clone()))),
        Kind::File => plan
            .files
            .extend(config.track_files.get(name).map(|f| (t, f.clone()))),
        Kind::Interface => plan.interfaces.push((t, name.to_owned())),
        Kind::Proxyd => plan
            .proxyds
            .extend(config.track_proxyds.get(name).map(|p| (t, p.clone()))),
    }
    t
}

fn replace_if_changed(cur: &mut InstanceTrack, new: InstanceTrack) -> bool {
    if *cur == new {
        false
    } else {
        *cur = new;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: Kind, links: &[(usize, i16)]) -> TrackerSpec {
        TrackerSpec {
            name: name.into(),
            kind,
            links: links
                .iter()
                .map(|&(instance, value)| Link {
                    instance,
                    weight: Weight {
                        value,
                        reverse: false,
                    },
                })
                .collect(),
            initial: Status::Init,
        }
    }

    #[test]
    fn the_seed_script_moves_the_priority_and_a_weight_0_tracker_faults() {
        let (mut hub, rxs) = Hub::new(
            vec![
                spec("chk_haproxy", Kind::Script, &[(0, 2)]),
                spec("eth0", Kind::Interface, &[(0, 0), (1, 0)]),
            ],
            vec![101, 100],
        );
        assert_eq!(rxs[0].borrow().priority, 101);
        let up = |tracker, status| Verdict {
            tracker,
            status,
            value: None,
        };
        assert_eq!(hub.apply(up(0, Status::Up)), vec![0]);
        assert_eq!(rxs[0].borrow().priority, 103);
        assert_eq!(rxs[1].borrow().priority, 100);
        // The same verdict again changes nothing.
        assert!(hub.apply(up(0, Status::Up)).is_empty());
        assert_eq!(hub.apply(up(1, Status::Down)), vec![0, 1]);
        assert!(rxs[0].borrow().fault && rxs[1].borrow().fault);
        let shares = rxs[0].borrow().shares.clone();
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0].effect, Effect::Delta(2));
        assert_eq!(shares[1].effect, Effect::Fault);
        // An unknown tracker index is ignored.
        assert!(hub.apply(up(9, Status::Up)).is_empty());
    }

    #[test]
    fn file_values_multiply_the_weight() {
        let (mut hub, rxs) = Hub::new(vec![spec("f", Kind::File, &[(0, 3)])], vec![100]);
        hub.apply(Verdict {
            tracker: 0,
            status: Status::Up,
            value: Some(-4),
        });
        assert_eq!(rxs[0].borrow().priority, 88);
    }
}
