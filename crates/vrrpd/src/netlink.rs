//! Route netlink (rtnetlink): interface facts and virtual address add/remove.
//!
//! Owns: looking up an interface's index, MAC, primary IPv4 address and IPv6 link-local address,
//! and adding / removing one address with keepalived's defaults (reference §1.6). Must not: decide
//! when addresses are added or removed (the driver follows the state machine), or touch any address
//! that is not exactly the one asked for (same address *and* prefix length, keepalived PR #353).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::link::LinkAttribute;
use rtnetlink::Handle;

use lbcore::config::vrrp::{Broadcast, Scope, VirtualAddr};

/// A netlink failure, with what we were doing.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Opening the netlink socket failed.
    #[error("cannot open a route netlink socket: {0}")]
    Open(#[source] std::io::Error),
    /// The interface does not exist.
    #[error("no such interface '{0}'")]
    NoSuchInterface(String),
    /// The kernel refused or the exchange failed.
    #[error("{what}: {source}")]
    Request {
        /// The request, in words.
        what: String,
        /// The rtnetlink error.
        source: rtnetlink::Error,
    },
}

/// Facts about one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Name.
    pub name: String,
    /// Index.
    pub index: u32,
    /// Hardware address (all zero when the link has none, e.g. loopback).
    pub mac: [u8; 6],
}

/// One address as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    /// The local address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// IFA_F_SECONDARY (IPv4).
    pub secondary: bool,
    /// IFA_F_TENTATIVE (IPv6 DAD in progress).
    pub tentative: bool,
    /// `label` (IPv4), if any.
    pub label: Option<String>,
}

/// What adding an address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// It was added.
    Added,
    /// It was already there with this prefix; nothing changed.
    AlreadyPresent,
}

/// What removing an address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// It was removed.
    Removed,
    /// It was not there (with this prefix); nothing changed.
    NotPresent,
}

/// One address to add, with keepalived's defaults applied (reference §1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (32 / 128 when none was written).
    pub prefix_len: u8,
    /// `brd` (IPv4).
    pub broadcast: Option<Ipv4Addr>,
    /// `scope`.
    pub scope: Scope,
    /// `label` (IPv4).
    pub label: Option<String>,
    /// `peer`.
    pub peer: Option<IpAddr>,
    /// `IFA_FLAGS` sent with the address: `IFA_F_NODAD` for IPv6 unless `-nodad` (keepalived
    /// skips DAD on VIPs), plus `home`, `mngtmpaddr`, `noprefixroute`, `autojoin` as written.
    pub flags: AddressFlags,
    /// Preferred lifetime in seconds, the valid lifetime staying infinite: `preferred_lft N`;
    /// 0 (deprecated, never picked as a source) for an IPv6 /128 without `preferred_lft`;
    /// `None` = forever.
    pub preferred_lft: Option<u32>,
}

/// Whether `option` (one entry of [`VirtualAddr::options`]) is applied by [`AddrSpec`]; the
/// others are reported by `crate::config::not_acted_on`.
pub fn option_applied(option: &str) -> bool {
    matches!(
        option,
        "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin" | "brd -"
    ) || preferred_lft(option).is_some()
}

/// The seconds of a `preferred_lft N` option.
fn preferred_lft(option: &str) -> Option<u32> {
    option.strip_prefix("preferred_lft ")?.parse().ok()
}

impl AddrSpec {
    /// The spec keepalived would use for one `virtual_ipaddress` line.
    pub fn from_config(v: &VirtualAddr) -> Self {
        let broadcast = match (v.addr, v.broadcast) {
            (IpAddr::V4(_), Broadcast::Addr(b)) => Some(b),
            (IpAddr::V4(a), Broadcast::Auto) if v.prefix_len < 31 => {
                Some(Ipv4Addr::from(u32::from(a) | (u32::MAX >> v.prefix_len)))
            }
            _ => None,
        };
        let ipv6 = v.addr.is_ipv6();
        let has = |o: &str| v.options.iter().any(|x| x == o);
        // keepalived vrrp_ipaddress.c: IPv6 VIPs skip DAD unless `-nodad` (which clears the
        // flag), and the other flags are passed through for either family.
        let mut flags = AddressFlags::empty();
        if (ipv6 && !has("-nodad")) || has("nodad") {
            flags |= AddressFlags::Nodad;
        }
        for (option, flag) in [
            ("home", AddressFlags::Homeaddress),
            ("mngtmpaddr", AddressFlags::Managetempaddr),
            ("noprefixroute", AddressFlags::Noprefixroute),
            ("autojoin", AddressFlags::Mcautojoin),
        ] {
            if has(option) {
                flags |= flag;
            }
        }
        let preferred = v.options.iter().find_map(|o| preferred_lft(o));
        Self {
            addr: v.addr,
            prefix_len: v.prefix_len,
            broadcast,
            scope: v.scope,
            label: v.label.clone().filter(|_| !ipv6),
            peer: v.peer,
            flags,
            // keepalived vrrp_ipaddress.c: a /128 VIP is added deprecated unless `preferred_lft`
            // says otherwise, so the kernel does not use it as a source address.
            preferred_lft: match preferred {
                Some(n) => Some(n),
                None if ipv6 && v.prefix_len == 128 && !v.preferred_forever => Some(0),
                None => None,
            },
        }
    }

    fn message(&self, index: u32) -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = match self.addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        msg.header.prefix_len = self.prefix_len;
        msg.header.index = index;
        msg.header.scope = match self.scope {
            Scope::Global => AddressScope::Universe,
            Scope::Site => AddressScope::Site,
            Scope::Link => AddressScope::Link,
            Scope::Host => AddressScope::Host,
            Scope::Nowhere => AddressScope::Nowhere,
        };
        msg.attributes.push(AddressAttribute::Local(self.addr));
        msg.attributes
            .push(AddressAttribute::Address(self.peer.unwrap_or(self.addr)));
        if let Some(b) = self.broadcast {
            msg.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let Some(l) = &self.label {
            msg.attributes.push(AddressAttribute::Label(l.clone()));
        }
        if !self.flags.is_empty() {
            // The low byte also goes in the header for kernels that ignore IFA_FLAGS.
            msg.header.flags =
                AddressHeaderFlags::from_bits_truncate((self.flags.bits() & 0xff) as u8);
            msg.attributes.push(AddressAttribute::Flags(self.flags));
        }
        if let Some(preferred) = self.preferred_lft {
            let mut ci = CacheInfo::default();
            ci.ifa_preferred = preferred;
            ci.ifa_valid = u32::MAX; // INFINITY_LIFE_TIME
            msg.attributes.push(AddressAttribute::CacheInfo(ci));
        }
        msg
    }
}

/// A route netlink handle; its connection runs as a task on the current tokio runtime.
///
/// The kernel runs one dump at a time per netlink socket and answers a second one with EBUSY,
/// so the dumps of every instance sharing this handle (address lists before each add or
/// delete) take turns on `dumps`.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
    dumps: std::sync::Arc<tokio::sync::Mutex<()>>,
}

fn request(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let what = what.into();
    move |source| NetlinkError::Request { what, source }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

impl Netlink {
    /// Opens the socket and spawns its connection task. Must be called inside a tokio runtime.
    pub fn new() -> Result<Self, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Open)?;
        tokio::spawn(conn);
        Ok(Self {
            handle,
            dumps: std::sync::Arc::default(),
        })
    }

    /// Index and MAC of the interface called `name`.
    pub async fn link(&self, name: &str) -> Result<Link, NetlinkError> {
        let _turn = self.dumps.lock().await;
        let mut links = self.handle.link().get().match_name(name).execute();
        let msg = match links.try_next().await {
            Ok(Some(msg)) => msg,
            Ok(None) => return Err(NetlinkError::NoSuchInterface(name.to_string())),
            Err(e) if errno(&e) == Some(libc::ENODEV) => {
                return Err(NetlinkError::NoSuchInterface(name.to_string()));
            }
            Err(e) => return Err(request(format!("get link {name}"))(e)),
        };
        let mut mac = [0u8; 6];
        for attr in &msg.attributes {
            if let LinkAttribute::Address(bytes) = attr {
                if bytes.len() == 6 {
                    mac.copy_from_slice(bytes);
                }
            }
        }
        Ok(Link {
            name: name.to_string(),
            index: msg.header.index,
            mac,
        })
    }

    /// Every address on interface `index`, in kernel order (primary IPv4 first).
    pub async fn addresses(&self, index: u32) -> Result<Vec<IfAddr>, NetlinkError> {
        let _turn = self.dumps.lock().await;
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(request(format!("list addresses of ifindex {index}")))?
        {
            let mut local = None;
            let mut address = None;
            let mut label = None;
            let mut flags = AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits()));
            for attr in &msg.attributes {
                match attr {
                    AddressAttribute::Local(a) => local = Some(*a),
                    AddressAttribute::Address(a) => address = Some(*a),
                    AddressAttribute::Label(l) => label = Some(l.clone()),
                    AddressAttribute::Flags(f) => flags = *f,
                    _ => {}
                }
            }
            // IPv4 reports the local address in IFA_LOCAL (IFA_ADDRESS is the peer on
            // point-to-point links); IPv6 often only sends IFA_ADDRESS.
            if let Some(addr) = local.or(address) {
                out.push(IfAddr {
                    addr,
                    prefix_len: msg.header.prefix_len,
                    secondary: flags.contains(AddressFlags::Secondary),
                    tentative: flags.contains(AddressFlags::Tentative),
                    label,
                });
            }
        }
        Ok(out)
    }

    /// The interface's primary IPv4 address: the first that is not secondary, and not one of
    /// `exclude` (our own VIPs, which must never become the advert source).
    pub async fn primary_v4(
        &self,
        index: u32,
        exclude: &[IpAddr],
    ) -> Result<Option<Ipv4Addr>, NetlinkError> {
        Ok(self
            .addresses(index)
            .await?
            .into_iter()
            .find_map(|a| match a.addr {
                IpAddr::V4(v4) if !a.secondary && !exclude.contains(&a.addr) => Some(v4),
                _ => None,
            }))
    }

    /// The interface's IPv6 link-local address (fe80::/10), the source of VRRPv3 IPv6 adverts
    /// (RFC 5798 §5.1.2.1). Tentative addresses are reported too: the caller may wait for DAD.
    pub async fn link_local_v6(
        &self,
        index: u32,
    ) -> Result<Option<(Ipv6Addr, bool)>, NetlinkError> {
        Ok(self
            .addresses(index)
            .await?
            .into_iter()
            .find_map(|a| match a.addr {
                IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some((v6, a.tentative)),
                _ => None,
            }))
    }

    /// True when exactly `addr`/`prefix_len` is on interface `index`.
    pub async fn has_address(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<bool, NetlinkError> {
        Ok(self
            .addresses(index)
            .await?
            .iter()
            .any(|a| a.addr == addr && a.prefix_len == prefix_len))
    }

    /// Adds `spec` to interface `index`; an identical address already present is not an error.
    pub async fn add_address(&self, index: u32, spec: &AddrSpec) -> Result<Added, NetlinkError> {
        let mut req = self.handle.address().add(index, spec.addr, spec.prefix_len);
        *req.message_mut() = spec.message(index);
        match req.execute().await {
            Ok(()) => Ok(Added::Added),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(Added::AlreadyPresent),
            Err(e) => Err(request(format!(
                "add {}/{} to ifindex {index}",
                spec.addr, spec.prefix_len
            ))(e)),
        }
    }

    /// Removes exactly `spec.addr`/`spec.prefix_len` from interface `index`. The same address with
    /// another prefix length (an administrator's own address) is left alone.
    pub async fn del_address(&self, index: u32, spec: &AddrSpec) -> Result<Removed, NetlinkError> {
        // The kernel matches IPv4 deletes on IFA_LOCAL and, only when IFA_ADDRESS is present, on
        // the prefix; IPv6 on address and prefix. We send both and also check first, so a
        // pre-existing address of another prefix is never touched.
        if !self.has_address(index, spec.addr, spec.prefix_len).await? {
            return Ok(Removed::NotPresent);
        }
        let mut msg = AddressMessage::default();
        let full = spec.message(index);
        msg.header = full.header;
        msg.attributes = full
            .attributes
            .into_iter()
            .filter(|a| matches!(a, AddressAttribute::Local(_) | AddressAttribute::Address(_)))
            .collect();
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(Removed::Removed),
            Err(e) if errno(&e) == Some(libc::EADDRNOTAVAIL) => Ok(Removed::NotPresent),
            Err(e) => Err(request(format!(
                "delete {}/{} from ifindex {index}",
                spec.addr, spec.prefix_len
            ))(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbcore::diag::Span;

    fn vaddr(addr: &str, prefix_len: u8) -> VirtualAddr {
        VirtualAddr {
            addr: addr.parse().expect("addr"),
            prefix_len,
            dev: None,
            broadcast: Broadcast::None,
            scope: Scope::Global,
            label: None,
            peer: None,
            no_track: false,
            preferred_forever: false,
            options: vec![],
            span: Span::file_start("t.conf"),
        }
    }

    #[test]
    fn ipv4_defaults_have_no_broadcast_and_no_flags() {
        let s = AddrSpec::from_config(&vaddr("192.0.2.100", 32));
        assert_eq!(s.broadcast, None);
        assert_eq!((s.flags, s.preferred_lft), (AddressFlags::empty(), None));
        let m = s.message(3);
        assert_eq!(m.header.index, 3);
        assert_eq!(m.header.prefix_len, 32);
        assert_eq!(m.header.scope, AddressScope::Universe);
        assert!(!m.attributes.iter().any(|a| matches!(
            a,
            AddressAttribute::Broadcast(_)
                | AddressAttribute::Flags(_)
                | AddressAttribute::CacheInfo(_)
        )));
    }

    #[test]
    fn brd_plus_is_computed_from_the_prefix() {
        let mut v = vaddr("192.0.2.100", 24);
        v.broadcast = Broadcast::Auto;
        v.label = Some("eth0:vip".into());
        v.scope = Scope::Link;
        let s = AddrSpec::from_config(&v);
        assert_eq!(s.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        let m = s.message(1);
        assert!(
            m.attributes
                .contains(&AddressAttribute::Label("eth0:vip".into()))
        );
        assert_eq!(m.header.scope, AddressScope::Link);
    }

    #[test]
    fn ipv6_slash_128_is_nodad_and_deprecated_unless_forever() {
        let s = AddrSpec::from_config(&vaddr("2001:db8::100", 128));
        assert_eq!((s.flags, s.preferred_lft), (AddressFlags::Nodad, Some(0)));
        let m = s.message(2);
        assert!(
            m.attributes
                .contains(&AddressAttribute::Flags(AddressFlags::Nodad))
        );
        assert!(m.header.flags.contains(AddressHeaderFlags::Nodad));
        assert!(m.attributes.iter().any(
            |a| matches!(a, AddressAttribute::CacheInfo(c) if c.ifa_preferred == 0 && c.ifa_valid == u32::MAX)
        ));
        let mut v = vaddr("2001:db8::100", 128);
        v.preferred_forever = true;
        assert_eq!(AddrSpec::from_config(&v).preferred_lft, None);
        assert_eq!(
            AddrSpec::from_config(&vaddr("2001:db8::100", 64)).preferred_lft,
            None
        );
    }

    #[test]
    fn address_options_become_flags_and_lifetimes() {
        let mut v = vaddr("2001:db8::200", 64);
        v.options = ["-nodad", "home", "noprefixroute", "preferred_lft 100"]
            .map(String::from)
            .to_vec();
        let s = AddrSpec::from_config(&v);
        assert_eq!(
            s.flags,
            AddressFlags::Homeaddress | AddressFlags::Noprefixroute
        );
        assert_eq!(s.preferred_lft, Some(100));
        let m = s.message(2);
        assert!(m.attributes.contains(&AddressAttribute::Flags(
            AddressFlags::Homeaddress | AddressFlags::Noprefixroute
        )));
        assert!(m.header.flags.contains(AddressHeaderFlags::Homeaddress));
        // preferred_lft N also replaces the /128 default of 0.
        let mut v = vaddr("2001:db8::201", 128);
        v.options = vec!["preferred_lft 30".into(), "mngtmpaddr".into()];
        let s = AddrSpec::from_config(&v);
        assert_eq!(s.preferred_lft, Some(30));
        assert_eq!(s.flags, AddressFlags::Nodad | AddressFlags::Managetempaddr);
        let mut v = vaddr("192.0.2.150", 24);
        v.options = vec!["noprefixroute".into(), "autojoin".into()];
        assert_eq!(
            AddrSpec::from_config(&v).flags,
            AddressFlags::Noprefixroute | AddressFlags::Mcautojoin
        );
        assert!(option_applied("preferred_lft 7") && option_applied("-nodad"));
        assert!(!option_applied("use_vmac") && !option_applied("track_group G1"));
    }

    /// Many instances listing addresses at once on one handle (a sync group leaving master
    /// together) must all get an answer, never the kernel's EBUSY for overlapping dumps.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_dumps_take_turns() {
        let nl = Netlink::new().expect("netlink socket");
        let lo = nl.link("lo").await.expect("lo exists");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let nl = nl.clone();
            tasks.spawn(async move { nl.addresses(lo.index).await });
        }
        while let Some(r) = tasks.join_next().await {
            let addrs = r.expect("task").expect("dump answered");
            assert!(addrs.iter().any(|a| a.addr.is_loopback()), "{addrs:?}");
        }
    }
}
