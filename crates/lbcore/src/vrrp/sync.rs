//! `vrrp_sync_group`: the members of a group change state together (keepalived `vrrp_sync.c`,
//! reference §1.7). Sans-io.
//!
//! Owns the group rules, as decisions over the members' last reported [`Member`] views:
//! - **Fault**: while any member's own trackers fault it, every member is held in Fault
//!   (`vrrp_sync_fault`: "Syncing instances to FAULT state").
//! - **Backup**: a member leaving Master for Backup takes the other masters with it
//!   (`vrrp_sync_backup`).
//! - **Master**: a member whose Master_Down_Timer fired only becomes master once every other
//!   member is master or ready too (`vrrp_sync_can_goto_master`: prefer Backup to thrashing);
//!   then all the ready ones go together (`vrrp_sync_master`).
//! - The group's own state, announced as `GROUP` notifications with priority 0: Fault if a
//!   member is in Fault, Master when all are, Backup otherwise; Stop once all have stopped.
//!
//! Must not: hold per-instance protocol state (each member's [`super::fsm::Instance`] does) or
//! know how commands reach the members.

use super::fsm::State;

/// What a member reports after each of its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Its state.
    pub state: State,
    /// Its Master_Down_Timer fired and no master has been heard since
    /// ([`super::fsm::Instance::wants_master`]).
    pub wants_master: bool,
    /// Its own trackers fault it (not counting a fault the group imposed).
    pub own_fault: bool,
}

impl Member {
    /// A member that has not started.
    pub const INIT: Member = Member {
        state: State::Initialize,
        wants_master: false,
        own_fault: false,
    };
}

/// What the group asks of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Hold the member in Fault (`true`) or release it (`false`) because of another member.
    GroupFault(bool),
    /// Leave Master for Backup ([`super::fsm::Instance::sync_step_down`]).
    StepDown,
    /// Become master now ([`super::fsm::Instance::sync_go_master`]).
    GoMaster,
}

/// The group's state, as announced (`GROUP "G" MASTER 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// Every member is master.
    Master,
    /// Members are running and not all master.
    Backup,
    /// A member is in Fault.
    Fault,
    /// Every member has stopped.
    Stop,
}

/// One sync group's coordinator.
#[derive(Debug, Clone)]
pub struct Group {
    members: Vec<Member>,
    /// Members asked to step down that have not reported leaving Master yet: their own move to
    /// Backup is the group's doing and does not cascade again.
    stepping_down: Vec<bool>,
    /// The fault currently imposed on the members.
    held: bool,
    /// Last announced state (`None` before the first announcement).
    announced: Option<GroupState>,
}

/// The outcome of one [`Group::update`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Commands, in order, as (member index, command).
    pub commands: Vec<(usize, Command)>,
    /// The group's new state when it changed (announce it).
    pub announce: Option<GroupState>,
}

impl Group {
    /// A group of `members` members, none started.
    pub fn new(members: usize) -> Self {
        Group {
            members: vec![Member::INIT; members],
            stepping_down: vec![false; members],
            held: false,
            announced: None,
        }
    }

    /// A group that already announced `state` (a reload rebuilding it): it announces again
    /// only when its state differs.
    pub fn resumed(members: usize, state: Option<GroupState>) -> Self {
        Group {
            announced: state,
            ..Group::new(members)
        }
    }

    /// The state last announced.
    pub fn announced(&self) -> Option<GroupState> {
        self.announced
    }

    /// The members' last views.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The state the group is in by its members' views (`None` while some are starting).
    pub fn state(&self) -> Option<GroupState> {
        let m = &self.members;
        if m.iter().all(|v| v.state == State::Initialize) {
            return Some(GroupState::Stop);
        }
        if m.iter().any(|v| v.state == State::Fault) {
            return Some(GroupState::Fault);
        }
        if m.iter().any(|v| v.state == State::Initialize) {
            return None;
        }
        if m.iter().all(|v| v.state == State::Master) {
            Some(GroupState::Master)
        } else {
            Some(GroupState::Backup)
        }
    }

    /// Member `i` reports `view`; returns what the members must do and whether the group's
    /// state changed. Out-of-range indexes are ignored.
    pub fn update(&mut self, i: usize, view: Member) -> Decision {
        let mut out = Decision::default();
        let Some(slot) = self.members.get_mut(i) else {
            return out;
        };
        let old = std::mem::replace(slot, view);
        let asked_to_step_down =
            view.state != State::Master && std::mem::take(&mut self.stepping_down[i]);

        // keepalived vrrp_sync_fault: one member's fault holds every member in Fault, until no
        // member's own trackers fault it any more.
        let fault = self.members.iter().any(|m| m.own_fault);
        if fault != self.held {
            self.held = fault;
            out.commands
                .extend((0..self.members.len()).map(|j| (j, Command::GroupFault(fault))));
        }

        // keepalived vrrp_sync_backup: a master that yielded takes the other masters along.
        if old.state == State::Master && view.state == State::Backup && !asked_to_step_down {
            for (j, m) in self.members.iter().enumerate() {
                if j != i && m.state == State::Master && !self.stepping_down[j] {
                    self.stepping_down[j] = true;
                    out.commands.push((j, Command::StepDown));
                }
            }
        }

        // keepalived vrrp_sync_can_goto_master / vrrp_sync_master: go together once every
        // member is master or ready.
        if view.wants_master && !fault {
            let ready = self
                .members
                .iter()
                .all(|m| m.state == State::Master || (m.state == State::Backup && m.wants_master));
            if ready {
                for (j, m) in self.members.iter().enumerate() {
                    if m.wants_master {
                        out.commands.push((j, Command::GoMaster));
                    }
                }
            }
        }

        let now = self.state();
        if now.is_some() && now != self.announced {
            // A group is only announced once it has run: the first Stop is not news.
            if !(self.announced.is_none() && now == Some(GroupState::Stop)) {
                out.announce = now;
            }
            self.announced = now;
        }
        out
    }
}

impl GroupState {
    /// The member state this group state is announced as (for notification words).
    pub fn as_state(self) -> State {
        match self {
            GroupState::Master => State::Master,
            GroupState::Backup => State::Backup,
            GroupState::Fault => State::Fault,
            GroupState::Stop => State::Initialize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(state: State, wants_master: bool, own_fault: bool) -> Member {
        Member {
            state,
            wants_master,
            own_fault,
        }
    }

    const BACKUP: Member = Member {
        state: State::Backup,
        wants_master: false,
        own_fault: false,
    };
    const MASTER: Member = Member {
        state: State::Master,
        wants_master: false,
        own_fault: false,
    };

    #[test]
    fn members_start_together_and_announce_backup_once() {
        let mut g = Group::new(2);
        let d = g.update(0, BACKUP);
        assert_eq!(d, Decision::default(), "one member still starting");
        let d = g.update(1, BACKUP);
        assert_eq!(d.announce, Some(GroupState::Backup));
        assert!(d.commands.is_empty());
    }

    #[test]
    fn a_ready_member_waits_for_the_others_then_all_go_master() {
        let mut g = Group::new(3);
        for i in 0..3 {
            g.update(i, BACKUP);
        }
        let d = g.update(0, v(State::Backup, true, false));
        assert!(d.commands.is_empty(), "{d:?}");
        let d = g.update(2, v(State::Backup, true, false));
        assert!(d.commands.is_empty(), "{d:?}");
        let d = g.update(1, v(State::Backup, true, false));
        assert_eq!(
            d.commands,
            vec![
                (0, Command::GoMaster),
                (1, Command::GoMaster),
                (2, Command::GoMaster)
            ]
        );
        for i in 0..2 {
            assert_eq!(g.update(i, MASTER).announce, None);
        }
        assert_eq!(g.update(2, MASTER).announce, Some(GroupState::Master));
    }

    #[test]
    fn a_member_ready_while_the_others_are_master_goes_at_once() {
        let mut g = Group::new(2);
        g.update(0, MASTER);
        g.update(1, BACKUP);
        let d = g.update(1, v(State::Backup, true, false));
        assert_eq!(d.commands, vec![(1, Command::GoMaster)]);
    }

    #[test]
    fn a_master_yielding_takes_the_other_masters_along() {
        let mut g = Group::new(3);
        g.update(0, MASTER);
        g.update(1, MASTER);
        g.update(2, MASTER);
        let d = g.update(1, BACKUP);
        assert_eq!(
            d.commands,
            vec![(0, Command::StepDown), (2, Command::StepDown)]
        );
        assert_eq!(d.announce, Some(GroupState::Backup));
        // The members stepping down report Backup in turn: nobody is master, nothing more to do.
        assert!(g.update(0, BACKUP).commands.is_empty());
        assert!(g.update(2, BACKUP).commands.is_empty());
    }

    #[test]
    fn one_fault_holds_every_member_until_it_clears() {
        let mut g = Group::new(2);
        g.update(0, MASTER);
        g.update(1, MASTER);
        let d = g.update(1, v(State::Fault, false, true));
        assert_eq!(
            d.commands,
            vec![
                (0, Command::GroupFault(true)),
                (1, Command::GroupFault(true))
            ]
        );
        assert_eq!(d.announce, Some(GroupState::Fault));
        // Member 0 enters Fault because the group holds it: its own fault flag stays clear, so
        // the hold does not latch.
        let d = g.update(0, v(State::Fault, false, false));
        assert!(d.commands.is_empty());
        let d = g.update(1, v(State::Fault, false, false));
        assert_eq!(
            d.commands,
            vec![
                (0, Command::GroupFault(false)),
                (1, Command::GroupFault(false))
            ]
        );
        assert_eq!(d.announce, None, "still Fault until the members leave it");
        g.update(0, BACKUP);
        assert_eq!(g.update(1, BACKUP).announce, Some(GroupState::Backup));
    }

    #[test]
    fn no_member_goes_master_while_the_group_is_held_in_fault() {
        let mut g = Group::new(2);
        g.update(0, BACKUP);
        g.update(1, v(State::Fault, false, true));
        let d = g.update(0, v(State::Backup, true, false));
        assert!(!d.commands.contains(&(0, Command::GoMaster)), "{d:?}");
    }

    #[test]
    fn a_resumed_group_does_not_announce_its_state_again() {
        let mut g = Group::resumed(2, Some(GroupState::Master));
        g.update(0, MASTER);
        assert_eq!(g.update(1, MASTER).announce, None);
        assert_eq!(g.update(1, BACKUP).announce, Some(GroupState::Backup));
        assert_eq!(g.announced(), Some(GroupState::Backup));
    }

    #[test]
    fn stop_is_announced_after_running_and_bad_indexes_are_ignored() {
        let mut g = Group::new(2);
        assert_eq!(g.update(5, MASTER), Decision::default());
        g.update(0, BACKUP);
        g.update(1, BACKUP);
        g.update(0, Member::INIT);
        let d = g.update(1, Member::INIT);
        assert_eq!(d.announce, Some(GroupState::Stop));
        assert_eq!(GroupState::Stop.as_state(), State::Initialize);
    }
}
