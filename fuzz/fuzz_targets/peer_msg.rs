//! Fuzzes the MSE/PE shape tests and the peer wire extension messages (BEP 10, BEP 11).
#![no_main]

use bt::{mse, peer_msg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = (mse::looks_like_key(data), mse::plaintext_signature(data), mse::distinct_bytes(data));
    if let Ok(peer_msg::Extended::Pex(p)) = peer_msg::parse_extended(data) {
        let _ = p.added().count();
    }
    if let Some(h) = data.get(..5).and_then(|h| <&[u8; 5]>::try_from(h).ok()) {
        let _ = peer_msg::header(h);
    }
});
