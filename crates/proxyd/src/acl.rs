//! Evaluation of layer-4 ACLs and `if|unless` conditions against one connection.
//!
//! Owns matching `src`/`dst`/`src_port`/`dst_port` patterns and combining named ACLs as HAProxy
//! does (lines sharing a name are ORed; a condition is an OR of AND-groups). It must not decide
//! what a rule does with the result.

use std::net::{IpAddr, SocketAddr};

use lbcore::config::proxy::{Acl, AclCriterion, AclPattern, AclRef, Condition};

/// Addresses of one connection: the client (`src`) and the local end it reached (`dst`).
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// Client address and port.
    pub src: SocketAddr,
    /// Local address and port the client connected to.
    pub dst: SocketAddr,
}

fn net_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net.to_canonical(), ip.to_canonical()) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let p = u32::from(prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn pattern_matches(criterion: AclCriterion, p: &AclPattern, c: &ConnInfo) -> bool {
    match (criterion, p) {
        (AclCriterion::Src, AclPattern::Net { addr, prefix }) => {
            net_contains(*addr, *prefix, c.src.ip())
        }
        (AclCriterion::Dst, AclPattern::Net { addr, prefix }) => {
            net_contains(*addr, *prefix, c.dst.ip())
        }
        (AclCriterion::SrcPort, AclPattern::Ports { lo, hi }) => {
            (*lo..=*hi).contains(&c.src.port())
        }
        (AclCriterion::DstPort, AclPattern::Ports { lo, hi }) => {
            (*lo..=*hi).contains(&c.dst.port())
        }
        _ => false,
    }
}

/// Whether the named ACL (every line with that name, ORed) matches.
pub fn named_matches(acls: &[Acl], name: &str, c: &ConnInfo) -> bool {
    acls.iter().filter(|a| a.name == name).any(|a| {
        a.patterns
            .iter()
            .any(|p| pattern_matches(a.criterion, p, c))
    })
}

fn term_value(acls: &[Acl], r: &AclRef, c: &ConnInfo) -> bool {
    match r {
        AclRef::Named(n) => named_matches(acls, n, c),
        AclRef::True => true,
        AclRef::False => false,
        AclRef::Localhost => {
            net_contains(IpAddr::from([127, 0, 0, 1]), 8, c.src.ip())
                || c.src.ip().to_canonical() == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
    }
}

/// Evaluates `cond` (`None` = always true).
pub fn condition_matches(acls: &[Acl], cond: Option<&Condition>, c: &ConnInfo) -> bool {
    let Some(cond) = cond else { return true };
    let v = cond.any_of.iter().any(|group| {
        group
            .iter()
            .all(|t| term_value(acls, &t.acl, c) != t.negated)
    });
    v != cond.unless
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_and_mapped_addresses() {
        let net = IpAddr::from([192, 0, 2, 0]);
        assert!(net_contains(net, 24, IpAddr::from([192, 0, 2, 77])));
        assert!(!net_contains(net, 24, IpAddr::from([192, 0, 3, 1])));
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        assert!(net_contains(net, 24, mapped));
        assert!(net_contains(net, 0, IpAddr::from([10, 0, 0, 1])));
    }
}
