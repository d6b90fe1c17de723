//! Fuzzes `Advert::decode` over IPv4: the first 8 bytes are the IP source and destination, the
//! rest is the VRRP payload. Decoding must never panic, and whatever decodes must re-encode into
//! a message that decodes to the same advert.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use lbcore::vrrp::packet::{Advert, IpContext, V3Ipv4Checksum};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((addrs, payload)) = data.split_first_chunk::<8>() else {
        return;
    };
    let src = Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
    let dst = Ipv4Addr::new(addrs[4], addrs[5], addrs[6], addrs[7]);
    let ctx = IpContext::new(IpAddr::V4(src), IpAddr::V4(dst));
    if let Ok(d) = Advert::decode(payload, &ctx) {
        assert!(d.len <= payload.len());
        let form = d
            .v3_ipv4_checksum
            .unwrap_or(V3Ipv4Checksum::WithPseudoHeader);
        let again = d
            .advert
            .encode(&ctx, form)
            .expect("a decoded advert encodes");
        assert_eq!(
            Advert::decode(&again, &ctx).expect("re-decodes").advert,
            d.advert
        );
    }
});
