//! Golden tests of the less common link layers on real captures: nDPI's public regression
//! captures of link types PPP (9) and PPI (192), and the NFLOG (239) capture of
//! `testdata/link/`; every frame decoded, the IPv4, IPv6, TCP and UDP packets found compared
//! with what tshark finds in the same files.
//!
//! The expected numbers come from tshark 4.0.17 (Debian 12), one display filter per column:
//!
//! ```sh
//! for f in someip_sd_sample.pcap BGP_Cisco_hdlc_slarp.pcap dlt_ppp.pcap nflog-bt.pcap; do
//!   for filter in ip ipv6 tcp udp; do tshark -r $f -Y $filter | wc -l; done
//! done
//! ```
//!
//! (None of these captures tunnels IP in IP or carries ICMP errors, so a frame matching `ip`
//! has exactly one IPv4 header; the link types come from `capinfos -E`.) The corpus has no
//! capture of link types 50, 105, 107 or 127; those are covered by the unit tests in
//! `src/link/` and by frames built in crates/cli/tests/cli.rs.
//!
//! The nDPI corpus lives outside the repository (`../shared/corpus`, or `$SWARMWALL_CORPUS`);
//! when it is absent its test says so and passes without checking anything.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use swarmwall_wire as wire;
use wire::link::{self, Network};
use wire::{LinkType, Transport};

fn ndpi_corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("SWARMWALL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    let ndpi = dir.join("public/ndpi");
    if ndpi.is_dir() {
        Some(ndpi)
    } else {
        eprintln!(
            "skipping: corpus not found at {} (set SWARMWALL_CORPUS)",
            dir.display()
        );
        None
    }
}

/// A classic pcap file: its link type and its frames (either byte order, µs or ns).
fn read_pcap(path: &Path) -> (u16, Vec<Vec<u8>>) {
    let b = std::fs::read(path).unwrap();
    let magic = &b[..4];
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a classic pcap file", path.display()),
    };
    let u32_at = |at: usize| {
        let w: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let linktype = (u32_at(20) & 0xffff) as u16;
    let mut frames = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let caplen = u32_at(at + 8) as usize;
        frames.push(b[at + 16..at + 16 + caplen].to_vec());
        at += 16 + caplen;
    }
    (linktype, frames)
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    frames: usize,
    ipv4: usize,
    ipv6: usize,
    tcp: usize,
    udp: usize,
}

fn count(link: LinkType, frames: &[Vec<u8>]) -> Counts {
    let mut c = Counts {
        frames: frames.len(),
        ..Counts::default()
    };
    for f in frames {
        match link::network(link, f) {
            Ok(Network::Ipv4(_)) => c.ipv4 += 1,
            Ok(Network::Ipv6(_)) => c.ipv6 += 1,
            _ => {}
        }
        // An IP packet found at the wrong offset would not decode to its ports.
        match wire::decode(link, f).map(|d| d.transport) {
            Ok(Transport::Tcp { .. }) => c.tcp += 1,
            Ok(Transport::Udp { .. }) => c.udp += 1,
            _ => {}
        }
    }
    c
}

fn check(path: &Path, linktype: u16, want: Counts) {
    let (lt, fr) = read_pcap(path);
    let name = path.display();
    assert_eq!(lt, linktype, "{name}: link type");
    let link = LinkType::from_number(lt);
    assert!(link.is_supported(), "{name}: {link:?}");
    let got = count(link, &fr);
    eprintln!("{name}: {got:?}");
    assert_eq!(got, want, "{name}");
}

#[test]
fn nflog_capture_matches_tshark() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/link/nflog-bt.pcap");
    let want = Counts {
        frames: 32,
        ipv4: 12,
        ipv6: 20,
        tcp: 20,
        udp: 4,
    };
    check(&p, 239, want);
}

#[test]
fn ppp_and_ppi_captures_match_tshark() {
    let Some(dir) = ndpi_corpus() else { return };
    // (file, link type, frames, ip, ipv6, tcp, udp) as tshark counts them (module docs).
    let expected = [
        // a 16-byte PPI header (one 4-byte field) in front of Ethernet frames
        ("someip_sd_sample.pcap", 192, 6, 6, 0, 0, 6),
        // LINKTYPE_PPP holding Cisco HDLC frames (0F 00 08 00)
        ("BGP_Cisco_hdlc_slarp.pcap", 9, 14, 14, 0, 14, 0),
        // LINKTYPE_PPP without address/control (00 21)
        ("dlt_ppp.pcap", 9, 1, 1, 0, 0, 1),
    ];
    for (file, linktype, frames, ipv4, ipv6, tcp, udp) in expected {
        let want = Counts {
            frames,
            ipv4,
            ipv6,
            tcp,
            udp,
        };
        check(&dir.join(file), linktype, want);
    }
}
