//! `swarmwall report`: the same page from a capture and from its flow records, self-contained
//! (nothing fetched), clear errors; rendered in headless Chromium (Debian `chromium`; skipped
//! with a message without it) with no console message, and its screenshot shows the charts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, s, sample, text, tmp};

fn attack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/attacks/attack-dht-reflection.pcap")
}

#[test]
fn the_same_page_from_a_capture_and_from_its_records() {
    let d = tmp("report-same");
    let flows = d.join("flows.jsonl");
    let o = run(&["analyze", "--quiet", s(&sample()), "--flows", s(&flows)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (a, b) = (d.join("a.html"), d.join("b.html"));
    for (input, out) in [(sample(), &a), (flows.clone(), &b)] {
        let o = run(&["report", s(&input), "-o", s(out)]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let page = std::fs::read_to_string(&a).unwrap();
    assert_eq!(page, std::fs::read_to_string(&b).unwrap());
    for part in [
        "BitTorrent share of the bytes over time",
        "id=\"timeline\"",
        "id=\"kinds\"",
        "id=\"crypto\"",
        "id=\"confidence\"",
        "Top torrents",
        "Top BitTorrent hosts",
        "Attacks on swarms",
        "peer-tcp",
        "tracker-http",
    ] {
        assert!(page.contains(part), "{part}");
    }
    for fetch in [
        "src=", "href=", "http://", "https://", "<script", "@import", "url(",
    ] {
        assert!(!page.contains(fetch), "self-contained: {fetch}");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_bad_record_names_the_file_and_line_and_writes_nothing() {
    let d = tmp("report-bad");
    let bad = d.join("bad.jsonl");
    std::fs::write(&bad, "{\"app\":\"unknown\"}\n{not json\n").unwrap();
    let out = d.join("r.html");
    let o = run(&["report", s(&bad), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(e.contains("bad.jsonl:2: not JSON"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!out.exists());
    std::fs::remove_dir_all(&d).ok();
}

/// Counts the pixels of an RGB(A) PNG close to `rgb`, in its rows `rows` (and all pixels).
fn pixels_like(png_path: &Path, rgb: [u8; 3], rows: std::ops::Range<usize>) -> (usize, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let px = &buf[..info.buffer_size()];
    let close = |p: &[u8]| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 8);
    let line = info.line_size;
    let n = px
        .chunks_exact(line)
        .enumerate()
        .filter(|(y, _)| rows.contains(y))
        .map(|(_, row)| row.chunks_exact(step).filter(|p| close(p)).count())
        .sum();
    (n, px.len() / step)
}

#[test]
fn renders_in_chromium_without_console_messages_and_shows_the_charts() {
    let Some(chromium) = ["chromium", "chromium-browser"].iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        eprintln!("skipping: chromium not found (Debian package chromium; lab/setup installs it)");
        return;
    };
    let d = tmp("report-chromium");
    let (page, alerts) = (d.join("report.html"), d.join("alerts.jsonl"));
    let o = run(&["analyze", "--quiet", s(&attack()), "--alerts", s(&alerts)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The bundled sample's flows, and the alerts of a lab attack capture (taken months
    // apart: together on one time axis they would leave it empty in the middle).
    let o = run(&[
        "report",
        s(&sample()),
        "--alerts",
        s(&alerts),
        "--title",
        "swarmwall report: samples/lab-mix.pcap, with the alerts of testdata/attacks/attack-dht-reflection.pcap",
        "-o",
        s(&page),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        std::fs::read_to_string(&page)
            .unwrap()
            .contains("dht-reflection")
    );
    let shot = d.join("report.png");
    let o = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,1800",
            "--virtual-time-budget=2000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = text(&o.stderr);
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Failed to load resource"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // The charts are there: BitTorrent's orange and the grey of other traffic, in quantity,
    // in the timeline (its rows: below the title and summary) and in the bar charts below it.
    let all = 0..usize::MAX;
    let (orange, total) = pixels_like(&shot, [0xd9, 0x48, 0x0f], all.clone());
    let (timeline_orange, _) = pixels_like(&shot, [0xd9, 0x48, 0x0f], 150..470);
    let (timeline_grey, _) = pixels_like(&shot, [0xad, 0xb5, 0xbd], 150..470);
    let (white, _) = pixels_like(&shot, [0xff, 0xff, 0xff], all);
    assert!(orange > 2_000, "orange pixels: {orange} of {total}");
    assert!(
        timeline_orange > 300,
        "BitTorrent in the timeline: {timeline_orange}"
    );
    assert!(
        timeline_grey > 100,
        "other traffic in the timeline: {timeline_grey}"
    );
    assert!(
        white < total * 97 / 100,
        "not blank: {white} white of {total}"
    );
    if std::env::var_os("SWARMWALL_UPDATE_SCREENSHOT").is_some() {
        let to = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.png");
        std::fs::copy(&shot, &to).unwrap();
        eprintln!("screenshot written to {}", to.display());
    }
    std::fs::remove_dir_all(&d).ok();
}
