//! Fuzzes the DHT KRPC parser and every accessor of what it returns.
#![no_main]

use bt::krpc::{self, Body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let probed = krpc::probe(data);
    if let Ok(m) = krpc::parse(data) {
        assert!(probed || !data.windows(5).any(|w| w == b"1:y1:"), "probe rejected a valid message");
        if let Body::Response(r) = m.body {
            let n = r.values().count() + r.nodes().count() + r.nodes6().count() + r.samples().count();
            std::hint::black_box((n, r.token()));
        }
    }
});
