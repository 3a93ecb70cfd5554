//! Building the benchmark capture: every corpus capture (lab and nDPI's), re-framed as
//! Ethernet, replayed again and again with rewritten addresses so each copy is a new set of
//! hosts and flows, and timestamps that keep going forward.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wire::LinkType;
use wire::link::{self, Network};

struct Frame {
    ts_ns: i64,
    /// Ethernet + IP.
    bytes: Vec<u8>,
    orig_len: u32,
}

const ETH_V4: [u8; 14] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
const ETH_V6: [u8; 14] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];

fn sources(corpus: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for dir in [corpus.join("lab"), corpus.join("public/ndpi")] {
        let rd = std::fs::read_dir(&dir)
            .with_context(|| format!("{}: corpus not found", dir.display()))?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("pcap" | "pcapng" | "cap")
                )
            })
            .collect();
        files.sort();
        v.extend(files);
    }
    Ok(v)
}

/// Reads one source as Ethernet frames with timestamps rebased to start at `start_ns`.
fn load(path: &Path, start_ns: i64, out: &mut Vec<Frame>) -> i64 {
    let mut frames = Vec::new();
    // Damaged sources contribute what they have before the damage.
    let _ = swarmwall_io::capture::read_path(path, |p, _| {
        let link = LinkType::from_number(p.linktype);
        let (eth, ip) = match link::network(link, p.data) {
            Ok(Network::Ipv4(ip)) => (ETH_V4, ip),
            Ok(Network::Ipv6(ip)) => (ETH_V6, ip),
            _ => return,
        };
        let header = p.data.len() - ip.len();
        let mut bytes = Vec::with_capacity(14 + ip.len());
        bytes.extend(eth);
        bytes.extend(ip);
        // Some public captures carry absurd original lengths: keep them within an IP packet.
        let orig = ((p.orig_len as usize).saturating_sub(header) + 14).min(14 + 65_535);
        let orig_len = orig.max(bytes.len()) as u32;
        frames.push(Frame {
            ts_ns: p.ts_nanos,
            bytes,
            orig_len,
        });
    });
    // Keep each source's rhythm but not its calendar: some public captures jump by years
    // (or back in time). Gaps are kept up to 10 s, and time never goes backwards.
    const MAX_GAP: i64 = 10_000_000_000;
    let mut now = start_ns;
    let mut prev: Option<i64> = None;
    for mut f in frames {
        let gap = prev.map_or(0, |p| (f.ts_ns - p).clamp(0, MAX_GAP));
        prev = Some(f.ts_ns);
        now += gap;
        f.ts_ns = now;
        out.push(f);
    }
    now
}

/// Gives copy `k` its own addresses: XOR `k` into the second and third byte of IPv4
/// addresses and the third and fourth of IPv6 ones (both endpoints alike, so flows stay
/// flows and hosts stay hosts).
fn rewrite(frame: &mut [u8], k: u16) {
    let x = k.to_be_bytes();
    let ranges: &[(usize, usize)] = match frame.get(12..14) {
        Some([0x08, 0x00]) => &[(14 + 12 + 1, 2), (14 + 16 + 1, 2)],
        Some([0x86, 0xdd]) => &[(14 + 8 + 2, 2), (14 + 24 + 2, 2)],
        _ => &[],
    };
    for &(at, n) in ranges {
        if let Some(b) = frame.get_mut(at..at + n) {
            b[0] ^= x[0];
            b[1] ^= x[1];
        }
    }
}

pub fn capture(corpus: &Path, out: &Path, target: u64) -> Result<()> {
    let mut frames = Vec::new();
    let mut cursor = 1_800_000_000i64 * 1_000_000_000;
    for src in sources(corpus)? {
        cursor = load(&src, cursor, &mut frames) + 1_000_000_000;
    }
    if frames.is_empty() {
        bail!("no frames in the corpus");
    }
    let span = cursor - 1_800_000_000i64 * 1_000_000_000;
    let per_copy: u64 = frames.iter().map(|f| 16 + f.bytes.len() as u64).sum();
    let copies = target.div_ceil(per_copy).clamp(1, u64::from(u16::MAX)) as u16;
    let mut w = BufWriter::with_capacity(
        1 << 20,
        File::create(out).with_context(|| format!("{}", out.display()))?,
    );
    // pcap, little endian, nanosecond timestamps, snaplen 262144, Ethernet
    w.write_all(&[
        0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ])?;
    let mut written = 24u64;
    let mut packets = 0u64;
    let mut buf = Vec::new();
    for k in 0..copies {
        let shift = i64::from(k) * span;
        for f in &frames {
            let ts = f.ts_ns + shift;
            buf.clear();
            buf.extend_from_slice(&f.bytes);
            rewrite(&mut buf, k);
            w.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())?;
            w.write_all(&((ts % 1_000_000_000) as u32).to_le_bytes())?;
            w.write_all(&(buf.len() as u32).to_le_bytes())?;
            w.write_all(&f.orig_len.to_le_bytes())?;
            w.write_all(&buf)?;
            written += 16 + buf.len() as u64;
            packets += 1;
        }
    }
    w.flush()?;
    eprintln!(
        "wrote {} ({:.1} MB, {packets} packets, {copies} copies of {} frames)",
        out.display(),
        written as f64 / 1e6,
        frames.len()
    );
    Ok(())
}

/// The lab captures, in name order.
fn lab_sources(corpus: &Path) -> Result<Vec<PathBuf>> {
    let dir = corpus.join("lab");
    let rd =
        std::fs::read_dir(&dir).with_context(|| format!("{}: corpus not found", dir.display()))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    Ok(files)
}

/// Writes the first `per_flow` packets of every conversation (IP protocol and both endpoints)
/// of each lab capture, one capture after the other, as a pcap with Ethernet frames.
pub fn sample(corpus: &Path, out: &Path, per_flow: usize) -> Result<()> {
    use std::collections::HashMap;
    let mut w = BufWriter::new(File::create(out).with_context(|| format!("{}", out.display()))?);
    // pcap, little endian, microseconds, snaplen 262144, Ethernet
    w.write_all(&[
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ])?;
    let (mut kept, mut seen) = (0u64, 0u64);
    for src in lab_sources(corpus)? {
        let mut count: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut err = None;
        let r = swarmwall_io::capture::read_path(&src, |p, _| {
            seen += 1;
            let Ok(d) = wire::decode(LinkType::from_number(p.linktype), p.data) else {
                return;
            };
            let (sp, dp) = match d.transport {
                wire::Transport::Tcp {
                    src_port, dst_port, ..
                }
                | wire::Transport::Udp {
                    src_port, dst_port, ..
                } => (src_port, dst_port),
                _ => (0, 0),
            };
            let mut ends = [(d.ip.src, sp), (d.ip.dst, dp)];
            ends.sort();
            let key = format!("{}{:?}", d.ip.protocol, ends).into_bytes();
            let n = count.entry(key).or_default();
            *n += 1;
            if *n > per_flow {
                return;
            }
            let ts = p.ts_nanos;
            let rec = [
                ((ts / 1_000_000_000) as u32).to_le_bytes(),
                ((ts % 1_000_000_000 / 1_000) as u32).to_le_bytes(),
                (p.data.len() as u32).to_le_bytes(),
                p.orig_len.to_le_bytes(),
            ];
            let res = w.write_all(&rec.concat()).and_then(|_| w.write_all(p.data));
            if let Err(e) = res {
                err = Some(e);
            }
            kept += 1;
        });
        r.with_context(|| format!("{}", src.display()))?;
        if let Some(e) = err {
            return Err(e.into());
        }
    }
    w.flush()?;
    eprintln!("wrote {}: {kept} of {seen} packets", out.display());
    Ok(())
}
