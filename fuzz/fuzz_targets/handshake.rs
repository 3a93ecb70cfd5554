//! Fuzzes the peer wire handshake parser, its search helpers and peer-id naming.
#![no_main]

use bt::{PeerId, handshake, peer_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = handshake::parse(data) {
        assert!(data.len() >= 48);
        if let Some(id) = h.peer_id {
            let _ = peer_id::describe(&id);
        }
    }
    if let Some(at) = handshake::find(data) {
        assert_eq!(&data[at..at + 20], handshake::PROTOCOL);
    }
    let n = handshake::partial_suffix(data);
    assert!(n < 20 && n <= data.len());
    if let Some(id) = data.get(..20).and_then(PeerId::from_slice) {
        let _ = peer_id::describe(&id);
    }
});
