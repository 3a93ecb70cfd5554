//! The edges of swarmwall: where bytes come from and where records go.
//!
//! * [`capture`]: reads pcap/pcapng files or streams (standard input, a pipe) in chunks and
//!   hands every packet to a callback, with one-line errors naming the input and the byte
//!   offset.
//! * [`eve`]: flow and DHT events in Suricata's EVE JSON shape (`--eve`).
//! * [`metrics`]: the Prometheus text exposition, served over HTTP (`--metrics`).
//! * [`parallel`]: offline analysis on several engines, one per thread.
//! * [`report`]: the self-contained HTML report (`swarmwall report`).
//! * [`record`]: the JSON flow record, the contract operators' scripts rely on.
//!
//! The analysis itself (`engine`) never sees a file or a JSON value.

pub mod capture;
pub mod eve;
pub mod metrics;
pub mod parallel;
pub mod record;
pub mod report;
