//! Fuzzes the walk over a TPACKET_V3 block (`watch::block::frames`): whatever the block's
//! bytes, no panic, and every frame lies inside the block.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, block)) = data.split_first() else {
        return;
    };
    let range = block.as_ptr_range();
    let walk = watch::block::frames(block, flags & 1 != 0, flags & 2 != 0, |f| {
        let r = f.data.as_ptr_range();
        assert!(range.start <= r.start && r.end <= range.end);
    });
    assert!(walk.frames <= block.len());
});
