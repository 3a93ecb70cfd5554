//! Fuzzes policy loading (TOML, info-hash lists, .torrent files) and the decision on whatever
//! the engine makes of the same bytes as a packet.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first half is the policy, the rest the content of every file it names.
    let (text, file) = data.split_at(data.len() / 2);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let _ = bt::metainfo::parse_infohash(text);
    let _ = bt::metainfo::torrent_infohashes(file);
    let Ok(p) = policy::parse(Path::new("f.toml"), text, &mut |_| Ok(file.to_vec())) else {
        return;
    };
    let _ = p.summary();
    let mut e = engine::Engine::new(engine::Config::default());
    if let engine::Observed::Flow(seen) =
        e.frame(wire::LinkType::Raw, 1, file, file.len() as u32, &mut |_| {})
    {
        let _ = p.decide(&policy::Subject::new(&seen));
    }
});
