//! Fuzzes the HTTP and UDP tracker parsers and LSD.
#![no_main]

use bt::compact::Family;
use bt::{http_tracker, lsd, udp_tracker};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = http_tracker::parse_request(data) {
        assert!(r.line_len <= data.len());
        let _ = (r.info_hashes().count(), r.port(), r.peer_id());
    }
    for at_end in [false, true] {
        if let Ok(r) = http_tracker::parse_response(data, at_end) {
            assert!(r.len <= data.len());
            if let Ok(reply) = http_tracker::parse_reply(r.body) {
                let _ = (reply.peers().count(), reply.scraped().count(), reply.interval());
            }
        }
    }
    if let Ok(r) = udp_tracker::parse_request(data) {
        let _ = r.info_hashes().count();
    }
    if let Ok(r) = udp_tracker::parse_response(data) {
        let _ = (r.peers(Family::V4).count(), r.peers(Family::V6).count());
    }
    if let Ok(a) = lsd::parse(data) {
        let _ = a.info_hashes().count();
    }
});
