//! A counting allocator: the heap in use, to put a number on the bytes each tracked flow
//! costs. Counting is off until [`per_flow`] turns it on (one relaxed load per allocation
//! otherwise), so the other measurements of this binary are not slowed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use anyhow::Result;

pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY (of the impl): every call is forwarded to the system allocator unchanged; only a
// counter is kept beside it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Turns counting on or off (this thread's allocations and everyone else's: the measuring
/// pass runs alone).
pub fn count(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Heap bytes per tracked flow over one engine's run on a capture.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerFlow {
    pub packets: u64,
    /// Mean over the samples of the second half of the file of heap in use / flows tracked.
    pub bytes_per_flow: f64,
    pub mean_flows: f64,
    /// Mean of the flow table's own bytes / flows tracked, over the same samples.
    pub table_per_flow: f64,
    /// The engine's accounting when the most flows were tracked, and the heap then.
    pub at_max: engine::Memory,
    pub heap_at_max: i64,
}

/// Runs one engine over `file`, counting while the engine runs (not the reader's buffers).
/// The heap counted is everything the engine allocated (flow table, detector state and buffers, learned endpoints and hosts, records
/// held for relabelling, reassembly): all of it is charged to the flows tracked.
pub fn per_flow(file: &Path) -> Result<PerFlow> {
    // A first pass to know the file's length in packets (and warm the cache).
    let total = crate::table::engine_samples(file, false, |_, _| {})?;
    let mut samples: Vec<(u64, engine::Memory, i64)> = Vec::new();
    LIVE.store(0, Ordering::Relaxed);
    crate::table::engine_samples(file, true, |n, m| {
        samples.push((n, m, LIVE.load(Ordering::Relaxed)));
    })?;
    let second_half: Vec<&(u64, engine::Memory, i64)> = samples
        .iter()
        .filter(|(n, m, _)| *n >= total / 2 && m.flows > 0)
        .collect();
    let mut out = PerFlow {
        packets: total,
        ..PerFlow::default()
    };
    if !second_half.is_empty() {
        let k = second_half.len() as f64;
        out.bytes_per_flow = second_half
            .iter()
            .map(|(_, m, b)| *b as f64 / m.flows as f64)
            .sum::<f64>()
            / k;
        out.table_per_flow = second_half
            .iter()
            .map(|(_, m, _)| m.flow_table as f64 / m.flows as f64)
            .sum::<f64>()
            / k;
        out.mean_flows = second_half
            .iter()
            .map(|(_, m, _)| m.flows as f64)
            .sum::<f64>()
            / k;
    }
    if let Some((_, m, b)) = samples.iter().max_by_key(|(_, m, _)| m.flows) {
        out.at_max = *m;
        out.heap_at_max = *b;
    }
    Ok(out)
}
