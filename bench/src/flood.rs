//! `swarmwall-bench flood`: the attack detectors' memory under a flood of random sources.
//! Every packet comes from a new address: forged uTP data carrying a handshake, KRPC queries
//! with fresh node ids and info-hashes, unsolicited KRPC responses with `nodes`, and TCP
//! resets. The engine (its own bounded flow table) and the monitor run as in `analyze
//! --alerts`; after each step the monitor's table entries, its evictions and the process's
//! peak RSS are printed. A bounded monitor levels off; an unbounded one grows every step.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Result;
use engine::{Config, Engine};
use wire::LinkType;

/// The engine's own tables, kept at the size `enforce` uses per worker by default.
const ENGINE_TABLES: usize = 1 << 18;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn id(r: &mut Rng) -> [u8; 20] {
    let mut b = [0u8; 20];
    for c in b.chunks_mut(8) {
        let x = r.next().to_le_bytes();
        c.copy_from_slice(&x[..c.len()]);
    }
    b
}

fn packet(r: &mut Rng, k: u64, target: SocketAddr) -> Vec<u8> {
    let src = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from(
            0x0a00_0000 | (r.next() as u32 & 0x00ff_ffff),
        )),
        1024 + (r.next() % 60_000) as u16,
    );
    match k % 4 {
        0 => {
            let mut hs = b"\x13BitTorrent protocol".to_vec();
            hs.extend([0u8; 8]);
            hs.extend(id(r));
            hs.extend(id(r));
            let p = bt::utp::emit(
                bt::utp::Type::Data,
                r.next() as u16,
                1,
                0,
                65_535,
                1,
                1,
                &hs,
            );
            wire::build::udp(src, target, &p)
        }
        1 => {
            let mut q = b"d1:ad2:id20:".to_vec();
            q.extend(id(r));
            q.extend(b"9:info_hash20:");
            q.extend(id(r));
            q.extend(b"e1:q9:get_peers1:t2:");
            q.extend((r.next() as u16).to_be_bytes());
            q.extend(b"1:y1:qe");
            wire::build::udp(src, target, &q)
        }
        2 => {
            let mut v = b"d1:rd2:id20:".to_vec();
            v.extend(id(r));
            v.extend(b"5:nodes52:");
            for _ in 0..2 {
                v.extend(id(r));
                v.extend((r.next() as u32).to_be_bytes());
                v.extend([0x1a, 0xe1]);
            }
            v.extend(b"e1:t2:");
            v.extend((r.next() as u16).to_be_bytes());
            v.extend(b"1:y1:re");
            wire::build::udp(src, target, &v)
        }
        _ => wire::build::tcp(src, target, r.next() as u32, 0, 0x04, &[]),
    }
}

pub fn run(packets: u64, steps: u32, max_state: u32, with_monitor: bool) -> Result<()> {
    let t = attacks::Thresholds {
        max_state,
        ..attacks::Thresholds::default()
    };
    let mut e = Engine::new(Config {
        max_flows: ENGINE_TABLES,
        max_endpoints: ENGINE_TABLES,
        ..Config::default()
    });
    if with_monitor {
        e.set_tap(Some(Box::new(attacks::Monitor::new(t))));
    }
    let target: SocketAddr = "10.77.0.2:6881".parse()?;
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let base = peak_rss_kib();
    println!(
        "flood of random sources, {}; engine max_flows = max_endpoints = {ENGINE_TABLES}; peak RSS before: {} MiB",
        if with_monitor {
            format!("monitor max_state {max_state}")
        } else {
            "engine alone".to_string()
        },
        base / 1024
    );
    if with_monitor {
        println!("  packets      entries  evicted      incidents  alert-lines  peak RSS MiB");
    } else {
        println!("  packets      flows    peak RSS MiB");
    }
    let mut ns = 1_700_000_000_000_000_000i64;
    let mut lines = 0usize;
    for step in 1..=steps {
        for k in 0..packets {
            let f = packet(&mut r, k, target);
            ns += 10_000; // 100 kpps of capture time
            e.frame(LinkType::Ethernet, ns, &f, f.len() as u32, &mut |_| {});
            if k % 4096 == 0
                && let Some(m) = monitor(&mut e)
            {
                lines += m.due().len();
            }
        }
        let Some(m) = monitor(&mut e) else {
            println!(
                "  {:<12} {:<8} {}",
                u64::from(step) * packets,
                e.active_flows(),
                peak_rss_kib() / 1024
            );
            continue;
        };
        let s = m.stats();
        println!(
            "  {:<12} {:<8} {:<12} {:<10} {:<12} {}",
            u64::from(step) * packets,
            m.state_entries(),
            s.state_evicted,
            m.incidents().len(),
            lines,
            peak_rss_kib() / 1024
        );
    }
    Ok(())
}

fn monitor(e: &mut Engine) -> Option<&mut attacks::Monitor> {
    e.tap_mut()?.as_any_mut().downcast_mut::<attacks::Monitor>()
}
