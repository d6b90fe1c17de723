//! Fuzzes `Advert::decode` over IPv6: the first 32 bytes are the IP source and destination, the
//! rest is the VRRP payload. Decoding must never panic, and whatever decodes must re-encode into
//! the same message bytes (IPv6 has a single checksum form).
#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use lbcore::vrrp::packet::{Advert, IpContext, V3Ipv4Checksum};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((addrs, payload)) = data.split_first_chunk::<32>() else {
        return;
    };
    let (src, dst) = addrs.split_at(16);
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(src).expect("16 bytes"));
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(dst).expect("16 bytes"));
    let ctx = IpContext::new(IpAddr::V6(src), IpAddr::V6(dst));
    if let Ok(d) = Advert::decode(payload, &ctx) {
        assert!(d.len <= payload.len());
        let again = d
            .advert
            .encode(&ctx, V3Ipv4Checksum::default())
            .expect("a decoded advert encodes");
        assert_eq!(
            Advert::decode(&again, &ctx).expect("re-decodes").advert,
            d.advert
        );
    }
});
