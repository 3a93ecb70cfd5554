//! Fuzzes the notice reader (`notice::parse`, `split_mbox`): any bytes as an e-mail, XML, JSON
//! or text give notices or a reason, never a panic; every notice's fields are what a notice can
//! hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for part in notice::split_mbox(data) {
        let p = notice::parse(part);
        assert!(p.error.is_some() || !p.notices.is_empty());
        for n in &p.notices {
            if let Some(h) = &n.infohash {
                assert!(h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
    }
});
