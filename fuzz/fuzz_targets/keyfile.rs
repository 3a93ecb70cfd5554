//! Fuzzes the key file reader (`KeyRing::parse`): any text gives a ring or a one-line error
//! naming the file, never a panic; a ring's keys follow from its first one, and its period
//! arithmetic stays defined at the extremes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match evidence::KeyRing::parse(Path::new("fuzz.keys"), text) {
        Ok(ring) => {
            let first = ring.first_period();
            assert!(ring.period_seconds() > 0);
            let k0 = ring.get(first).expect("the first period's key");
            if let Some(next) = first.checked_add(1) {
                assert_eq!(ring.get(next), Some(evidence::key::next_key(&k0)));
            }
            if let Some(before) = first.checked_sub(1) {
                assert_eq!(ring.get(before), None, "no key before the first period");
            }
            for secs in [i64::MIN, -1, 0, 1, i64::MAX] {
                let _ = ring.period_of(secs);
                let _ = ring.period_end(ring.period_of(secs));
            }
        }
        Err(e) => {
            let s = e.to_string();
            assert!(s.starts_with("fuzz.keys: key file: ") && !s.contains('\n'), "{s}");
        }
    }
});
