//! Fuzzes the NFQUEUE message decoder (what the kernel sends on the netlink socket), and the
//! judge on every packet it yields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netfilter::queue::{Messages, Received};

fuzz_target!(|data: &[u8]| {
    for m in Messages::new(data) {
        if let Ok(Received::Packet(p)) = m {
            let _ = p.wire_len();
            let mut e = engine::Engine::new(engine::Config::default());
            e.frame(wire::LinkType::Raw, 1, p.payload, p.wire_len(), &mut |_| {});
        }
    }
});
