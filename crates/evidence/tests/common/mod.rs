//! What the store tests share: the lab captures as flow records, temporary folders, and the
//! forms an address can take in a file.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use engine::{Config, Engine, FlowRecord};
use swarmwall_evidence::Lookup;
use wire::LinkType;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn lab_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/lab"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    assert!(v.len() >= 4, "testdata/lab captures missing");
    v
}

pub fn records(path: &Path) -> Vec<FlowRecord> {
    let mut engine = Engine::new(Config::default());
    let mut out = Vec::new();
    swarmwall_io::capture::read_path(path, |p, _| {
        engine.frame(
            LinkType::from_number(p.linktype),
            p.ts_nanos,
            p.data,
            p.orig_len,
            &mut |r| out.push(r),
        );
    })
    .unwrap();
    engine.finish(&mut |r| out.push(r));
    out
}

pub use swarmwall_testkit::tmpdir;

/// A copy of a record between other addresses (IPv6 ones, say).
pub fn moved(r: &FlowRecord, client: &str, server: &str) -> FlowRecord {
    let mut r = r.clone();
    r.client = SocketAddr::new(client.parse().unwrap(), r.client.port());
    r.server = SocketAddr::new(server.parse().unwrap(), r.server.port());
    r
}

/// Every form an address could take in a file.
pub fn forms(ip: IpAddr) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![("text".to_string(), ip.to_string().into_bytes())];
    let (raw, dec): (Vec<u8>, String) = match ip {
        IpAddr::V4(a) => (a.octets().to_vec(), u32::from(a).to_string()),
        IpAddr::V6(a) => (a.octets().to_vec(), u128::from(a).to_string()),
    };
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    v.push(("raw bytes".into(), raw));
    v.push(("hex".into(), hex.clone().into_bytes()));
    v.push(("HEX".into(), hex.to_ascii_uppercase().into_bytes()));
    v.push(("decimal".into(), dec.into_bytes()));
    if let IpAddr::V4(a) = ip {
        let mapped = a.to_ipv6_mapped();
        v.push(("mapped raw".into(), mapped.octets().to_vec()));
        v.push(("mapped text".into(), mapped.to_string().into_bytes()));
    }
    v
}

/// Every row of an address.
pub fn any_time(ip: IpAddr) -> Lookup {
    Lookup {
        ip,
        port: None,
        from_s: 0,
        to_s: i64::MAX / 2,
        infohash: None,
    }
}

pub fn find_any(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}
