//! `watch` on the loopback interface: real AF_PACKET rings behind a fanout group, a capture
//! filter compiled by libpcap, KRPC datagrams sent to a loopback port, and the flows they make
//! read by the workers. Needs CAP_NET_RAW (root); skips, saying so, without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use engine::Kind;
use swarmwall_watch::{Options, Report, Sensor};

/// A KRPC ping (BEP 5) with transaction id `t`.
fn ping(t: u8) -> Vec<u8> {
    let mut v = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:a".to_vec();
    v.push(t);
    v.extend_from_slice(b"1:y1:qe");
    v
}

#[test]
fn loopback_krpc_through_two_workers_and_a_filter() {
    // A port of our own, so the filter keeps only this test's datagrams.
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut opts = Options::new(vec!["lo".into()]);
    opts.workers = 2;
    opts.filter = Some(format!("udp and port {port}"));
    opts.ring.blocks = 2;
    opts.ring.retire_ms = 10;
    opts.ring.promiscuous = false;
    let sensor = match Sensor::open(opts) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            if msg.contains("CAP_NET_RAW") || msg.contains("ermission") || msg.contains("libpcap") {
                eprintln!("skipping: {msg}");
                return;
            }
            panic!("{msg}");
        }
    };
    assert_eq!(sensor.workers(), 2);
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // Ten senders (ten flows, spread over the workers by hash), five pings each, and
            // other traffic on loopback that the filter must keep out.
            let noise = UdpSocket::bind("127.0.0.1:0").unwrap();
            let other = UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..10u8 {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                for j in 0..5u8 {
                    s.send_to(&ping(i * 5 + j), ("127.0.0.1", port)).unwrap();
                    noise
                        .send_to(&ping(j), other.local_addr().unwrap())
                        .unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(700));
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut records = Vec::new();
    let done = sensor
        .run(&stop, Duration::from_millis(100), |r| {
            if let Report::Records(v) = r {
                records.extend(v);
            }
        })
        .unwrap();
    sender.join().unwrap();
    drop(receiver);
    // Every flow is one of ours, recognised as DHT.
    assert_eq!(records.len(), 10, "{records:#?}");
    for r in &records {
        assert!(r.server.port() == port || r.client.port() == port);
        assert_eq!(r.kind(), Some(Kind::Dht));
        assert_eq!(r.total_packets(), 5);
    }
    assert_eq!(done.totals.packets, 50);
    // The sockets receive each loopback packet twice, as sent and as received (the sent copy is
    // skipped when read); the noise would have added as many again.
    assert_eq!(
        done.stats.kernel.packets, 100,
        "the filter let other packets through"
    );
    assert_eq!(done.stats.kernel.drops, 0);
    assert_eq!(done.stats.per_worker.iter().sum::<u64>(), 50);
    assert_eq!(done.stats.flows_ended, 10);
}
