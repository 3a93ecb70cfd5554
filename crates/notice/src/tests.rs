//! Golden tests on every notice of the shared corpus (`../shared/notices`, or
//! `$SWARMWALL_NOTICES`), every field checked; variants built from them (quoted-printable,
//! base64, a forward, several notices in one mail, IPv6); bad input; arbitrary bytes.

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

fn corpus() -> Option<PathBuf> {
    let candidates = [
        std::env::var("SWARMWALL_NOTICES").ok().map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/notices")),
        Some(PathBuf::from("/work/shared/notices")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("README.md").exists());
    if found.is_none() {
        eprintln!("skipping: notices corpus not found (../shared/notices or $SWARMWALL_NOTICES)");
    }
    found
}

fn read(rel: &str) -> Option<Vec<u8>> {
    Some(std::fs::read(corpus()?.join(rel)).expect(rel))
}

fn secs(s: &str) -> i64 {
    values::time(s).unwrap().secs
}

fn one(rel: &str) -> Option<Notice> {
    let p = parse(&read(rel)?);
    assert_eq!(p.error, None, "{rel}");
    assert_eq!(p.notices.len(), 1, "{rel}: {:#?}", p.notices);
    p.notices.into_iter().next()
}

/// Every field of a notice.
#[allow(clippy::too_many_arguments)]
fn expect(
    n: &Notice,
    format: &str,
    case: &str,
    complainant: &str,
    ip: &str,
    port: Option<u16>,
    time: &str,
    hash: Option<&str>,
    filename: Option<&str>,
    size: Option<u64>,
    title: Option<&str>,
) {
    assert_eq!(n.format.name(), format);
    assert_eq!(n.case_id.as_deref(), Some(case));
    assert_eq!(
        n.complainant.as_deref(),
        Some(complainant).filter(|c| !c.is_empty())
    );
    assert_eq!(n.ip, Some(ip.parse().unwrap()));
    assert_eq!(n.port, port);
    assert_eq!(n.time, Some(secs(time)));
    assert_eq!(n.infohash.as_deref(), hash);
    assert_eq!(n.filename.as_deref(), filename);
    assert_eq!(n.filesize, size);
    assert_eq!(n.title.as_deref(), title);
}

/// (file, case, complainant, ip, port, time, hash, name, XML size, text size, title)
type Echelon = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u16,
    &'static str,
    &'static str,
    &'static str,
    u64,
    u64,
    &'static str,
);
const ECHELON: &[Echelon] = &[
    (
        "1",
        "314620451",
        "Paramount Pictures Corporation",
        "192.168.2.200",
        35657,
        "2015-11-13T20:35:03Z",
        "fb3126d027fc9e7f88c350d2c695f1ef007e6ab3",
        "Mission.Impossible.Rogue.Nation.2015.720p.BluRay.x264-NeZu",
        1253775203,
        1195,
        "Mission: Impossible - Rogue Nation",
    ),
    (
        "2",
        "315134863",
        "Paramount Pictures Corporation",
        "192.168.2.212",
        58688,
        "2015-11-16T05:45:49Z",
        "dabf39f74c45d3ff67af40fa800574569c83a50c",
        "Terminator Genesis (HDRip) (EliteTorrent.net).avi",
        2261061635,
        2156,
        "Terminator Genisys",
    ),
    (
        "3",
        "316896986",
        "Paramount Pictures Corporation",
        "192.168.2.100",
        3326,
        "2015-11-18T05:02:09Z",
        "04e08213ccd0f48cecd3c6d2468acb78c015139b",
        "Paranormal.Activity-The.Ghost.Dimension.2015.HD-TS.XVID.AC3.Hive-CM8",
        1122622000,
        1070,
        "Paranormal Activity: The Ghost Dimension",
    ),
    (
        "4",
        "316273247",
        "Paramount Pictures Corporation",
        "192.168.2.100",
        18525,
        "2015-11-17T11:05:41Z",
        "4b642d022980e5ebaa7cf4b6e1cc93769921cb42",
        "The Wolf of Wall Street (2013) [1080p]",
        2229113437,
        2125,
        "The Wolf of Wall Street",
    ),
    (
        "5",
        "317063305",
        "Paramount Pictures Corporation",
        "192.168.2.200",
        1037,
        "2015-11-18T11:05:53Z",
        "778f3916bbe47ed4b384e57c500f2fe152fdcf65",
        "Catch.Me.If.You.Can.2002.BDRip.Dub.avi",
        1577093120,
        1504,
        "Catch Me If You Can",
    ),
    (
        "6",
        "316967065",
        "Paramount Pictures Corporation",
        "192.168.3.2",
        51413,
        "2015-11-18T08:25:43Z",
        "efd1808813ffcea2d872e0fbf754ce104f59de02",
        "True Grit  (Western 2010)  Jeff Bridges  720p  BrRip",
        999544302,
        953,
        "True Grit",
    ),
    (
        "7",
        "317258954",
        "Paramount Pictures Corporation",
        "192.168.3.2",
        51413,
        "2015-11-18T17:46:51Z",
        "67bb47cb5a68ca389d7dc6740098ab16e3198aca",
        "f-true.grit.720p.mkv",
        4688394339,
        4471,
        "True Grit",
    ),
    (
        "8",
        "324415991",
        "Warner Bros. Entertainment Inc.",
        "192.168.3.2",
        50321,
        "2015-11-27T11:58:43Z",
        "22d10ee6371b4a1ba259d003cc308d6a4577899c",
        "Black.Mass.2015.720p.HC.HDRip.900MB.MkvCage.mkv",
        946388880,
        0,
        "Black Mass",
    ),
];

#[test]
fn ip_echelon_mails_one_notice_each_with_the_text_checked() {
    for &(k, case, complainant, ip, port, time, hash, name, size, text_size, title) in ECHELON {
        let Some(n) = one(&format!("abuseio/ip-echelon_sample{k}.eml")) else {
            return;
        };
        // The same XML inline and as an attachment: one notice, every field.
        expect(
            &n,
            "acns-1.2",
            case,
            complainant,
            ip,
            Some(port),
            time,
            Some(hash),
            Some(name),
            Some(size),
            Some(title),
        );
        // Samples 1-7 give the size in MiB in the text, without a unit: a disagreement. 8
        // writes "902 MB", which the XML's bytes round to.
        let disagree = n
            .problems
            .iter()
            .any(|p| p.contains("disagree on the file size"));
        assert_eq!(disagree, text_size != 0, "sample {k}: {:?}", n.problems);
        if text_size != 0 {
            assert!(
                n.problems
                    .iter()
                    .any(|p| p.contains(&format!("text {text_size}")))
            );
        }
        assert!(
            n.problems.iter().all(|p| p.contains("file size")),
            "sample {k}: {:?}",
            n.problems
        );
    }
    let Some(n) = one("abuseio/ip-echelon_sample1.eml") else {
        return;
    };
    expect(
        &n,
        "acns-1.2",
        "314620451",
        "Paramount Pictures Corporation",
        "192.168.2.200",
        Some(35657),
        "2015-11-13T20:35:03Z",
        Some("fb3126d027fc9e7f88c350d2c695f1ef007e6ab3"),
        Some("Mission.Impossible.Rogue.Nation.2015.720p.BluRay.x264-NeZu"),
        Some(1_253_775_203),
        Some("Mission: Impossible - Rogue Nation"),
    );
    assert_eq!(n.protocol.as_deref(), Some("BITTORRENT"));
}

#[test]
fn irdeto_dash_escaped_xml_and_bay_id_in_the_text() {
    let Some(n) = one("abuseio/Copyrightcompliance_Example_1.eml") else {
        return;
    };
    expect(
        &n,
        "acns-1.2",
        "312-200234534",
        "Irdeto USA, Inc",
        "10.0.2.100",
        Some(34890),
        "2015-09-04T13:19:53Z",
        Some("4b219802e41113fae845705758d91b39edbec78d"),
        Some("Power 2014 S01E02 HDTV x264-KILLERS [eztv]"),
        Some(330_366_091),
        Some("Power"),
    );
    assert_eq!(
        n.problems,
        vec!["info-hash taken from the text (the XML has none)".to_string()]
    );
}

#[test]
fn acns_examples_of_every_version() {
    if corpus().is_none() {
        return;
    }
    for (file, format) in [
        ("acns-0.6-full.xml", "acns-0.6"),
        ("acns-0.7-full.xml", "acns-0.7"),
    ] {
        let n = one(&format!("acns-examples/{file}")).unwrap();
        expect(
            &n,
            format,
            "A1234567",
            "Content Owner Inc.",
            "168.1.1.145",
            Some(21),
            "2003-08-30T12:34:53Z",
            None,
            Some("8Mile.mpg"),
            Some(702_453_789),
            Some("8 Mile"),
        );
        assert_eq!(n.protocol.as_deref(), Some("FTP"));
        // The spec's example hash is not hex: no hash, a problem, not a failure.
        assert!(
            n.problems
                .iter()
                .any(|p| p.contains("EKR94KF985873KD930ER4KD94") && p.contains("no hash")),
            "{file}"
        );
        assert!(n.problems.iter().any(|p| p.contains("2 content items")));
    }
    for (file, format) in [
        ("acns-1.1-full.xml", "acns-1.1"),
        ("acns-1.2-full.xml", "acns-1.2"),
    ] {
        let n = one(&format!("acns-examples/{file}")).unwrap();
        expect(
            &n,
            format,
            "A1234567",
            "ScannerVendor, Inc.",
            "168.1.1.145",
            Some(21123),
            "2008-08-30T12:34:53Z",
            Some("6af9f5bf5493b6bb72f15f77c2e541d606328aea"),
            Some("8_Mile[2002]DvDrip[Eng].4473459.TPB.torrent"),
            Some(734_013_472),
            Some("8 Mile"),
        );
        assert_eq!(n.protocol.as_deref(), Some("BITTORRENT"));
        assert_eq!(n.problems, Vec::<String>::new(), "{file}");
    }
}

#[test]
fn xarf_report() {
    let Some(n) = one("xarf/copyright-p2p.sample.json") else {
        return;
    };
    expect(
        &n,
        "xarf-4.2.0",
        "2acc5d8c-15ba-4432-8ee1-08c657711c63",
        "Film Studio Corp",
        "192.0.2.100",
        None,
        "2025-01-11T13:44:41Z",
        Some("da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        None,
        None,
        Some("Copyrighted Movie 2024"),
    );
}

#[test]
fn hosting_ticket_in_free_text() {
    let Some(raw) = read("text/hosting-ticket-bsa-style.txt") else {
        return;
    };
    let p = parse(&raw);
    assert_eq!(p.notices.len(), 1, "{p:#?}");
    let n = &p.notices[0];
    assert_eq!(n.format, Format::Text);
    assert_eq!(n.case_id.as_deref(), Some("55120348"));
    assert_eq!(n.ip, Some("192.0.2.45".parse().unwrap()));
    assert_eq!(n.port, Some(41873));
    // 21:07:44 EST, the offset in parentheses: 02:07:44 UTC the next day.
    assert_eq!(n.time, Some(secs("2026-11-15T02:07:44Z")));
    assert_eq!(n.filesize, Some(4_294_967_296), "4,194,304k is 2^32 bytes");
    assert_eq!(
        n.filename.as_deref(),
        Some("Example Studio Suite 12.iso.torrentExample Studio Suite 12.iso")
    );
    assert_eq!(n.protocol.as_deref(), Some("BitTorrent"));
    assert_eq!(n.infohash, None);
    assert_eq!(n.problems, Vec::<String>::new());
}

// ---- variants built from the corpus ----

fn qp(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let mut col = 0;
        for b in line.bytes() {
            let piece = if b == b'=' || b >= 0x7f || (b < 0x20 && b != b'\t') {
                format!("={b:02X}")
            } else {
                (b as char).to_string()
            };
            if col + piece.len() > 72 {
                out.push_str("=\n");
                col = 0;
            }
            col += piece.len();
            out.push_str(&piece);
        }
        out.push('\n');
    }
    out
}

fn mail(parts: &[(&str, &str, &str)]) -> Vec<u8> {
    let mut m = String::from(
        "From: notices@example.test\nTo: abuse@example.test\nSubject: notice\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"XX\"\n\n",
    );
    for (ctype, encoding, body) in parts {
        m.push_str(&format!(
            "--XX\nContent-Type: {ctype}\nContent-Transfer-Encoding: {encoding}\n\n{body}\n"
        ));
    }
    m.push_str("--XX--\n");
    m.into_bytes()
}

fn xml_of(rel: &str) -> Option<String> {
    let t = String::from_utf8(read(rel)?).unwrap();
    let (a, b) = acns::find_blocks(&t)[0];
    Some(t[a..b].to_string())
}

#[test]
fn quoted_printable_base64_and_forwarded_xml() {
    let Some(xml) = xml_of("abuseio/ip-echelon_sample2.eml") else {
        return;
    };
    let want = parse(xml.as_bytes()).notices;
    assert_eq!(want.len(), 1);
    let b64 = data_encoding::BASE64_MIME.encode(xml.as_bytes());
    for m in [
        mail(&[("text/plain; charset=utf-8", "quoted-printable", &qp(&xml))]),
        mail(&[
            ("text/plain", "7bit", "see attachment"),
            ("application/xml", "base64", &b64),
        ]),
        mail(&[(
            "text/plain",
            "7bit",
            &xml.lines()
                .map(|l| format!("> > {l}\n"))
                .collect::<String>(),
        )]),
    ] {
        let got = parse(&m);
        assert_eq!(got.notices, want, "{}", String::from_utf8_lossy(&m));
    }
}

#[test]
fn several_infringements_in_one_mail_and_ipv6() {
    let Some(xml) = xml_of("abuseio/ip-echelon_sample3.eml") else {
        return;
    };
    let v6 = xml
        .replace("192.168.2.100", "2001:db8:77::5")
        .replace("<ID>", "<ID>v6-");
    let body = format!("first:\n{xml}\nsecond:\n{v6}\n");
    let got = parse(&mail(&[("text/plain", "8bit", &body)]));
    assert_eq!(got.notices.len(), 2, "{got:#?}");
    assert_eq!(got.notices[1].ip, Some("2001:db8:77::5".parse().unwrap()));
    assert!(
        got.notices[1]
            .case_id
            .as_deref()
            .unwrap()
            .starts_with("v6-")
    );
    // An mbox of two mails.
    let mut mbox = b"From a@b Sat Nov 14 00:00:00 2026\n".to_vec();
    mbox.extend(mail(&[("text/plain", "8bit", &xml)]));
    mbox.extend(b"From a@b Sat Nov 14 00:00:01 2026\n");
    mbox.extend(mail(&[("text/plain", "8bit", &v6)]));
    let parts = split_mbox(&mbox);
    assert_eq!(parts.len(), 2);
    let ips: Vec<_> = parts.iter().map(|m| parse(m).notices[0].ip).collect();
    assert_eq!(ips[1], Some("2001:db8:77::5".parse().unwrap()));
}

#[test]
fn bad_input_says_why() {
    let reason = |b: &[u8]| parse(b).error.unwrap_or_default();
    assert!(reason(b"").contains("empty"));
    assert!(reason(b"\x00\x01\x02binary\xff\xfe").contains("binary"));
    assert!(reason(b"Dear ISP, nothing to see.").contains("no notice found"));
    let m = mail(&[("text/plain", "7bit", "Hello, this mail is about lunch.")]);
    assert!(reason(&m).contains("no notice found"));
    let e = reason(b"<Infringement xmlns=\"http://www.acns.net/ACNS\"><Case><ID>1</ID>");
    assert!(e.starts_with("ACNS XML:"), "{e}");
    assert!(reason(b"{\"hello\": 1}").contains("xarf_version"));
    assert!(reason(b"{ not json").starts_with("X-ARF JSON"));
}

proptest! {
    /// Any bytes: a result, never a panic.
    #[test]
    fn any_bytes(b in prop::collection::vec(any::<u8>(), 0..2000)) {
        let p = parse(&b);
        prop_assert!(p.error.is_some() || !p.notices.is_empty());
    }

    /// Any text inside a notice's fields.
    #[test]
    fn any_field_text(ip in "\\PC{0,20}", size in "\\PC{0,20}", t in "\\PC{0,30}", hash in "\\PC{0,50}") {
        let x = format!("<Infringement><Source><IP_Address>{ip}</IP_Address><TimeStamp>{t}</TimeStamp></Source>\
            <Content><Item><FileSize>{size}</FileSize><Hash>{hash}</Hash></Item></Content></Infringement>");
        let _ = parse(x.as_bytes());
        let txt = format!("IP Address: {ip}\nFilesize: {size}\nDate Found: {t}\nTorrent Hash: {hash}\n");
        let _ = parse(txt.as_bytes());
    }
}

#[test]
fn every_file_of_the_corpus_is_a_notice_or_says_why_not() {
    let Some(root) = corpus() else {
        return;
    };
    let mut notices = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let p = parse(&std::fs::read(&f).unwrap());
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let expected_notice = name.ends_with(".eml")
                || name.ends_with("-full.xml")
                || name.ends_with(".sample.json")
                || name.ends_with(".txt");
            if expected_notice {
                assert!(p.error.is_none() && !p.notices.is_empty(), "{name}: {p:?}");
                notices += p.notices.len();
            } else {
                // Schemas, licences, READMEs: not notices, and said so.
                assert!(p.notices.is_empty() && p.error.is_some(), "{name}: {p:?}");
            }
        }
    }
    assert_eq!(
        notices, 15,
        "9 e-mails, 4 ACNS examples, 1 X-ARF report, 1 ticket"
    );
}
