//! Status words as HAProxy 2.6 shows them (MGMT §9.1 field 17, `stats_fill_sv_computestate` in
//! `src/stats.c`): `UP`, `UP 1/3`, `DOWN`, `DOWN 1/2`, `DRAIN`, `DRAIN 1/3`, `MAINT`, `no check`
//! for servers; `OPEN`/`FULL` for frontends; `UP`/`DOWN` for backends.
//!
//! Owns the rules only; it must not format rows.

use std::fmt;

use super::model::{Admin, Backend, Server};
use crate::balance::HealthState;

/// A server's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerStatus {
    /// UP, fully healthy.
    Up,
    /// UP but failing: `remaining` of `fall` failures left (`UP 1/3`).
    GoingDown {
        /// Failures still needed to go DOWN.
        remaining: u32,
        /// `fall`.
        fall: u32,
    },
    /// DOWN.
    Down,
    /// DOWN but passing: `successes` of `rise` (`DOWN 1/2`).
    GoingUp {
        /// Successes so far.
        successes: u32,
        /// `rise`.
        rise: u32,
    },
    /// UP and draining.
    Drain,
    /// Draining and failing (`DRAIN 1/3`).
    DrainGoingDown {
        /// Failures still needed to go DOWN.
        remaining: u32,
        /// `fall`.
        fall: u32,
    },
    /// In maintenance (whatever its health).
    Maint,
    /// UP, not checked (`no check`).
    NoCheck,
}

/// The status of `s` (HAProxy's `stats_fill_sv_computestate`, without agents or tracking).
pub fn server_status(s: &Server) -> ServerStatus {
    if s.admin == Admin::Maint {
        return ServerStatus::Maint;
    }
    let health = s.check.as_ref().map(|c| c.health);
    if s.is_up() {
        // src/stats.c: running; transitional when health < rise + fall - 1.
        let mut st = match health {
            Some(HealthState::GoingDown { remaining, fall }) => {
                ServerStatus::GoingDown { remaining, fall }
            }
            _ => ServerStatus::Up,
        };
        if s.admin == Admin::Drain {
            st = match st {
                ServerStatus::GoingDown { remaining, fall } => {
                    ServerStatus::DrainGoingDown { remaining, fall }
                }
                _ => ServerStatus::Drain,
            };
        }
        if st == ServerStatus::Up && health.is_none() {
            st = ServerStatus::NoCheck;
        }
        st
    } else {
        // src/stats.c: stopped; DOWN when health is 0 or unchecked, else going up.
        match health {
            Some(HealthState::GoingUp { successes, rise }) => {
                ServerStatus::GoingUp { successes, rise }
            }
            _ => ServerStatus::Down,
        }
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerStatus::Up => f.write_str("UP"),
            ServerStatus::GoingDown { remaining, fall } => write!(f, "UP {remaining}/{fall}"),
            ServerStatus::Down => f.write_str("DOWN"),
            ServerStatus::GoingUp { successes, rise } => write!(f, "DOWN {successes}/{rise}"),
            ServerStatus::Drain => f.write_str("DRAIN"),
            ServerStatus::DrainGoingDown { remaining, fall } => {
                write!(f, "DRAIN {remaining}/{fall}")
            }
            ServerStatus::Maint => f.write_str("MAINT"),
            ServerStatus::NoCheck => f.write_str("no check"),
        }
    }
}

impl ServerStatus {
    /// The `state` label of `haproxy_server_status` set to 1: transitional states count as the
    /// state they are in, `no check` as UP.
    pub fn prometheus_state(self) -> &'static str {
        match self {
            ServerStatus::Up | ServerStatus::GoingDown { .. } | ServerStatus::NoCheck => "UP",
            ServerStatus::Down | ServerStatus::GoingUp { .. } => "DOWN",
            ServerStatus::Drain | ServerStatus::DrainGoingDown { .. } => "DRAIN",
            ServerStatus::Maint => "MAINT",
        }
    }

    /// The HTML row class (HAProxy's CSS names): `active_up`, `backup_going_down`,
    /// `active_draining`, `maintain`, ...
    pub fn css_class(self, backup: bool) -> String {
        let state = match self {
            ServerStatus::Up => "up",
            ServerStatus::GoingDown { .. } => "going_down",
            ServerStatus::Down => "down",
            ServerStatus::GoingUp { .. } => "going_up",
            ServerStatus::Drain | ServerStatus::DrainGoingDown { .. } => "draining",
            ServerStatus::NoCheck => "no_check",
            ServerStatus::Maint => return "maintain".into(),
        };
        format!("{}_{state}", if backup { "backup" } else { "active" })
    }
}

/// A frontend's status: `FULL` once `scur` reaches its limit, else `OPEN`.
pub fn frontend_status(scur: u32, slim: Option<u32>) -> &'static str {
    match slim {
        Some(l) if scur >= l => "FULL",
        _ => "OPEN",
    }
}

/// A backend's status: `UP` while some server takes balanced traffic (or it has no server),
/// else `DOWN` (`src/stats.c`: `tot_weight > 0 || !px->srv`).
pub fn backend_status(b: &Backend) -> &'static str {
    if b.servers.is_empty() || b.weight() > 0 {
        "UP"
    } else {
        "DOWN"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::Health;
    use crate::stats::model::Check;
    use std::time::Duration;

    fn server(admin: Admin, up: bool, check: Option<HealthState>) -> Server {
        Server {
            name: "s".into(),
            admin,
            up,
            weight: 1,
            check: check.map(|health| Check {
                health,
                rise: 2,
                fall: 3,
                last: None,
            }),
            ..Server::default()
        }
    }

    fn text(admin: Admin, up: bool, check: Option<HealthState>) -> String {
        server_status(&server(admin, up, check)).to_string()
    }

    #[test]
    fn transitional_states_follow_the_rise_fall_counter() {
        let inter = Duration::from_secs(1);
        // A fresh counter (health = rise) shows HAProxy's startup `UP 1/3`.
        let mut h = Health::new(2, 3, inter, None, None);
        assert_eq!(text(Admin::Ready, true, Some(h.state())), "UP 1/3");
        h.record(true);
        assert_eq!(text(Admin::Ready, true, Some(h.state())), "UP");
        h.record(false);
        assert_eq!(text(Admin::Ready, true, Some(h.state())), "UP 2/3");
        h.record(false);
        assert_eq!(text(Admin::Ready, true, Some(h.state())), "UP 1/3");
        h.record(false);
        assert_eq!(text(Admin::Ready, false, Some(h.state())), "DOWN");
        h.record(true);
        assert_eq!(text(Admin::Ready, false, Some(h.state())), "DOWN 1/2");
        h.record(true);
        assert_eq!(text(Admin::Ready, true, Some(h.state())), "UP");
    }

    #[test]
    fn operator_states_override_as_haproxy() {
        assert_eq!(text(Admin::Drain, true, Some(HealthState::Up)), "DRAIN");
        assert_eq!(text(Admin::Drain, true, None), "DRAIN");
        let going_down = HealthState::GoingDown {
            remaining: 1,
            fall: 3,
        };
        assert_eq!(text(Admin::Drain, true, Some(going_down)), "DRAIN 1/3");
        assert_eq!(text(Admin::Maint, true, Some(HealthState::Up)), "MAINT");
        assert_eq!(text(Admin::Maint, false, None), "MAINT");
        // A draining server that is DOWN shows DOWN.
        assert_eq!(text(Admin::Drain, false, Some(HealthState::Down)), "DOWN");
        assert_eq!(text(Admin::Ready, true, None), "no check");
        assert_eq!(text(Admin::Ready, false, None), "DOWN");
    }

    #[test]
    fn prometheus_states_and_classes() {
        let going_up = ServerStatus::GoingUp {
            successes: 1,
            rise: 2,
        };
        assert_eq!(going_up.prometheus_state(), "DOWN");
        assert_eq!(ServerStatus::NoCheck.prometheus_state(), "UP");
        assert_eq!(ServerStatus::Drain.css_class(false), "active_draining");
        assert_eq!(going_up.css_class(true), "backup_going_up");
        assert_eq!(ServerStatus::Maint.css_class(true), "maintain");
    }

    #[test]
    fn backend_and_frontend_status() {
        let mut b = Backend {
            servers: vec![server(Admin::Drain, true, None)],
            ..Backend::default()
        };
        assert_eq!(backend_status(&b), "DOWN");
        b.servers
            .push(server(Admin::Ready, true, Some(HealthState::Up)));
        assert_eq!(backend_status(&b), "UP");
        assert_eq!(backend_status(&Backend::default()), "UP");
        assert_eq!(frontend_status(3, Some(3)), "FULL");
        assert_eq!(frontend_status(3, None), "OPEN");
    }
}
