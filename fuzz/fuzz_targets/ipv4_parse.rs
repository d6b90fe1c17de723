//! Fuzzes `parse_ipv4` (what a raw IPv4 socket delivers) and, for VRRP packets, the decode of
//! the payload it frames. Neither may panic; the payload must lie inside the buffer.
#![no_main]

use lbcore::vrrp::packet::{Advert, IPPROTO_VRRP, parse_ipv4};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = parse_ipv4(data) {
        assert!(info.payload.len() + 20 <= data.len());
        if info.protocol == IPPROTO_VRRP {
            let _ = Advert::decode(info.payload, &info.context());
        }
    }
});
