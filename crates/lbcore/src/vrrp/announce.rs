//! Gratuitous ARP and unsolicited Neighbour Advertisement frames, and the VRRP virtual MAC.
//!
//! Owns: the bytes of the Ethernet frames a new master sends for each virtual address (RFC 3768
//! §6.4.2 / RFC 5798 §6.4.2), laid out as keepalived 2.2.7 sends them (`vrrp_arp.c`,
//! `vrrp_ndisc.c`). Must not: open sockets, decide when or how often to announce (that is
//! [`super::fsm`]'s `GarpPolicy`), or read interface state (the caller passes the MAC and flags).

use std::net::{Ipv4Addr, Ipv6Addr};

use pnet_packet::MutablePacket;
use pnet_packet::Packet;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{
    MutableNeighborAdvertPacket, NdpOption, NdpOptionTypes, NeighborAdvertFlags,
};
use pnet_packet::icmpv6::{self, Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::MutableIpv6Packet;

/// Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// Ethernet address of the IPv6 all-nodes group ff02::1 (RFC 2464 §7).
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
/// IPv6 all-nodes multicast group, the destination of unsolicited NAs (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Minimum Ethernet frame without FCS; shorter frames are zero-padded to it.
pub const MIN_FRAME_LEN: usize = 60;

const ETHERNET_HEADER_LEN: usize = 14;
const ARP_LEN: usize = 28;
const IPV6_HEADER_LEN: usize = 40;
/// ICMPv6 NA header (24) plus one Target Link-Layer Address option (8).
const NA_LEN: usize = 24 + 8;

/// The VRRP virtual MAC of `vrid`: 00-00-5E-00-01-{VRID} for IPv4 (RFC 3768 §7.3),
/// 00-00-5E-00-02-{VRID} for IPv6 (RFC 5798 §7.3).
pub fn virtual_mac(vrid: u8, ipv6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

/// Writes the Ethernet header into `frame` and returns its payload.
fn ethernet(frame: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: EtherType) -> &mut [u8] {
    {
        let Some(mut eth) = MutableEthernetPacket::new(&mut *frame) else {
            unreachable!("frame buffers are allocated larger than an Ethernet header")
        };
        // pnet_base's MacAddr is not re-exported; `From<[u8; 6]>` lets `.into()` name it.
        eth.set_destination(dst.into());
        eth.set_source(src.into());
        eth.set_ethertype(ethertype);
    }
    &mut frame[ETHERNET_HEADER_LEN..]
}

/// A gratuitous ARP announcing `vip` at `mac`, as keepalived sends it: Ethernet broadcast from
/// `mac`, ARP request (op 1), sender = (`mac`, `vip`), target = (ff:ff:ff:ff:ff:ff, `vip`), padded
/// with zeros to the 60-byte Ethernet minimum.
pub fn gratuitous_arp(mac_addr: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0u8; MIN_FRAME_LEN];
    let payload = ethernet(&mut frame, BROADCAST_MAC, mac_addr, EtherTypes::Arp);
    let Some(mut arp) = MutableArpPacket::new(&mut payload[..ARP_LEN]) else {
        unreachable!("ARP slice is exactly an ARP packet long")
    };
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherTypes::Ipv4);
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    // RFC 5227 §3 / keepalived vrrp_arp.c: a request whose sender and target IP are both the VIP.
    arp.set_operation(ArpOperations::Request);
    arp.set_sender_hw_addr(mac_addr.into());
    arp.set_sender_proto_addr(vip);
    arp.set_target_hw_addr(BROADCAST_MAC.into());
    arp.set_target_proto_addr(vip);
    frame
}

/// An unsolicited Neighbour Advertisement for `vip` at `mac` (RFC 4861 §7.2.6), as keepalived
/// sends it: Ethernet to 33:33:00:00:00:01 from `mac`; IPv6 from `vip` to ff02::1, hop limit
/// 255; ICMPv6 type 136 with Override set, Router set iff `router` (the interface forwards),
/// Solicited clear; one Target Link-Layer Address option carrying `mac`.
pub fn unsolicited_na(mac_addr: [u8; 6], vip: Ipv6Addr, router: bool) -> Vec<u8> {
    let mut frame = vec![0u8; ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + NA_LEN];
    let payload = ethernet(&mut frame, ALL_NODES_MAC, mac_addr, EtherTypes::Ipv6);
    let Some(mut ip) = MutableIpv6Packet::new(payload) else {
        unreachable!("frame is sized for the IPv6 header and the NA")
    };
    ip.set_version(6);
    ip.set_payload_length(NA_LEN as u16);
    ip.set_next_header(IpNextHeaderProtocols::Icmpv6);
    // RFC 4861 §7.1.2: Hop Limit 255, or receivers discard the NA.
    ip.set_hop_limit(255);
    ip.set_source(vip);
    ip.set_destination(ALL_NODES);

    let Some(mut na) = MutableNeighborAdvertPacket::new(ip.payload_mut()) else {
        unreachable!("IPv6 payload is sized for the NA")
    };
    na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
    na.set_icmpv6_code(Icmpv6Code(0));
    let mut flags = NeighborAdvertFlags::Override;
    if router {
        flags |= NeighborAdvertFlags::Router;
    }
    na.set_flags(flags);
    na.set_target_addr(vip);
    na.set_options(&[NdpOption {
        option_type: NdpOptionTypes::TargetLLAddr,
        length: 1,
        data: mac_addr.to_vec(),
    }]);
    let sum = match Icmpv6Packet::new(na.packet()) {
        Some(icmp) => icmpv6::checksum(&icmp, &vip, &ALL_NODES),
        None => unreachable!("the NA is longer than an ICMPv6 header"),
    };
    na.set_checksum(sum);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_macs_follow_the_rfcs() {
        assert_eq!(virtual_mac(51, false), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(virtual_mac(255, true), [0, 0, 0x5e, 0, 2, 255]);
    }

    #[test]
    fn garp_is_padded_with_zeros() {
        let f = gratuitous_arp([2, 0, 0, 0, 0, 0x0a], Ipv4Addr::new(192, 0, 2, 100));
        assert_eq!(f.len(), MIN_FRAME_LEN);
        assert!(f[ETHERNET_HEADER_LEN + ARP_LEN..].iter().all(|&b| b == 0));
    }

    #[test]
    fn na_router_flag_follows_argument() {
        let vip: Ipv6Addr = "2001:db8::53".parse().unwrap();
        let flags_at = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + 4;
        assert_eq!(unsolicited_na([2; 6], vip, false)[flags_at], 0x20);
        assert_eq!(unsolicited_na([2; 6], vip, true)[flags_at], 0xa0);
    }
}
