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

/// Runs the engine over one capture and returns every flow record and the engine. With
/// [`Config::tcp_opening_unseen`] (inline), the frames `enforce`'s rules pass in the kernel —
/// TCP SYNs and SYN-ACKs without payload — are not given to the engine, as in the daemon.
pub fn analyze_file(
    path: &Path,
    config: Config,
) -> (Vec<FlowRecord>, Engine, Result<(), capture::Error>) {
    let skip_openings = config.tcp_opening_unseen;
    let mut engine = Engine::new(config);
    let mut records = Vec::new();
    let result = capture::read_path(path, |p, _| {
        let link = LinkType::from_number(p.linktype);
        if skip_openings && passes_in_kernel(link, p.data) {
            return;
        }
        engine.frame(link, p.ts_nanos, p.data, p.orig_len, &mut |r| {
            records.push(r)
        });
    });
    engine.finish(&mut |r| records.push(r));
    (records, engine, result.map(|_| ()))
}

/// Whether `enforce`'s rules pass this frame without queueing it: a TCP segment with SYN,
/// without FIN or RST, and without payload (see `netfilter::rules`).
pub fn passes_in_kernel(link: LinkType, frame: &[u8]) -> bool {
    use wire::tcp::flags::{FIN, RST, SYN};
    match wire::decode(link, frame) {
        Ok(d) => matches!(
            d.transport,
            wire::Transport::Tcp { flags, payload_wire_len: 0, .. } if flags & (SYN | FIN | RST) == SYN
        ),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::build;
    use wire::tcp::flags::{ACK, FIN, PSH, RST, SYN};

    #[test]
    fn only_syns_and_syn_acks_without_payload_pass_in_the_kernel() {
        let (c, s) = (
            "10.77.0.2:40000".parse().unwrap(),
            "10.77.0.1:80".parse().unwrap(),
        );
        let v6 = (
            "[fd00::2]:40000".parse().unwrap(),
            "[fd00::1]:80".parse().unwrap(),
        );
        let passes = |flags, payload: &[u8]| {
            let f4 = build::tcp(c, s, 1, 0, flags, payload);
            let f6 = build::tcp(v6.0, v6.1, 1, 0, flags, payload);
            let p4 = passes_in_kernel(LinkType::Ethernet, &f4);
            assert_eq!(p4, passes_in_kernel(LinkType::Ethernet, &f6));
            p4
        };
        assert!(passes(SYN, &[]));
        assert!(passes(SYN | ACK, &[]));
        assert!(!passes(SYN, b"fast open data"));
        assert!(!passes(SYN | FIN, &[]));
        assert!(!passes(SYN | RST, &[]));
        assert!(!passes(ACK, &[]));
        assert!(!passes(PSH | ACK, b"GET / HTTP/1.1\r\n"));
        assert!(!passes_in_kernel(LinkType::Ethernet, b"\x00\x01"));
    }
}
