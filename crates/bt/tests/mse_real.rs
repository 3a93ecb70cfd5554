//! The MSE shape on real handshakes: the first flights of encrypted peer connections cut from
//! a lab capture (`testdata/lab/mixed-random.pcap`: transmission, libtorrent, qBittorrent,
//! rtorrent with encryption preferred; see `lab/`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use swarmwall_bt::mse::{self, Flights, Shape};

fn flight(n: u32, side: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/mse-{n}-{side}.bin"));
    std::fs::read(p).unwrap()
}

#[test]
fn real_handshakes_have_the_shape() {
    for n in 1..=4 {
        let (a, b) = (flight(n, "initiator"), flight(n, "responder"));
        assert!(mse::looks_like_key(&a), "flight {n} initiator");
        assert!(mse::looks_like_key(&b), "flight {n} responder");
        let f = Flights {
            initiator: a.len() as u32,
            responder: b.len() as u32,
            initiator_key: true,
            responder_key: true,
        };
        assert_eq!(
            f.shape(),
            Shape::TwoSided,
            "flight {n}: {} / {} bytes",
            a.len(),
            b.len()
        );
    }
}

#[test]
fn a_handshake_prefixed_by_a_plaintext_header_is_not_a_key() {
    let mut a = flight(1, "initiator");
    a[..3].copy_from_slice(&[0x16, 0x03, 0x01]);
    assert!(!mse::looks_like_key(&a));
}
