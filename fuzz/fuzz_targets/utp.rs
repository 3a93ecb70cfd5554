//! Fuzzes the uTP header view and the connection relation.
#![no_main]

use bt::utp::{Header, Seen, accepts_syn, answers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let half = data.len() / 2;
    let a = Header::new_checked(&data[..half]);
    let b = Header::new_checked(&data[half..]);
    if let Ok(h) = &a {
        assert!(h.payload().len() + 20 <= half);
        let _ = (h.timestamp(), h.timestamp_diff(), h.wnd_size());
    }
    if let (Ok(a), Ok(b)) = (a, b) {
        let (a, b) = (Seen::from(&a), Seen::from(&b));
        let _ = (answers(&a, &b), accepts_syn(&a, &b));
    }
});
