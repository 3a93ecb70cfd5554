//! Scoring swarmwall against ground truth: label files of the lab captures (one row per
//! flow, `NAME.flows.csv`) and nDPI's expected outputs.
//!
//! [`labels`] reads the label files, [`score`] matches flow records to labelled flows and
//! counts recall, precision, wrong kinds, info-hash recall and decision points per kind.
//! [`analyze_file`] runs the engine over a capture, the same way `swarmwall analyze` does.

pub mod labels;
pub mod score;

use std::path::Path;

use engine::{Config, Engine, FlowRecord};
use swarmwall_io::capture;
use wire::LinkType;

/// Runs the engine over one capture and returns every flow record and the engine.
pub fn analyze_file(
    path: &Path,
    config: Config,
) -> (Vec<FlowRecord>, Engine, Result<(), capture::Error>) {
    let mut engine = Engine::new(config);
    let mut records = Vec::new();
    let result = capture::read_path(path, |p, _| {
        engine.frame(
            LinkType::from_number(p.linktype),
            p.ts_nanos,
            p.data,
            p.orig_len,
            &mut |r| records.push(r),
        );
    });
    engine.finish(&mut |r| records.push(r));
    (records, engine, result.map(|_| ()))
}
