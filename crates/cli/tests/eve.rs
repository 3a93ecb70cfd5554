//! `--eve`: every event of a run checked against Suricata's EVE schema
//! (`../shared/eve/schema.json`, beside the corpus): the whole event against the schema with
//! one more top-level key, `swarmwall` (an object), and the event without `swarmwall` against
//! the schema unchanged. And the events agree with the run's other outputs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{json_lines, run, s, sample, tmp};
use serde_json::Value;

fn schema() -> Option<Value> {
    let corpus = std::env::var_os("SWARMWALL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    let path = corpus.join("../eve/schema.json");
    match std::fs::read(&path) {
        Ok(b) => Some(serde_json::from_slice(&b).unwrap()),
        Err(_) => {
            eprintln!(
                "skipping: Suricata's EVE schema not found at {} (set SWARMWALL_CORPUS)",
                path.display()
            );
            None
        }
    }
}

struct Validators {
    extended: jsonschema::Validator,
    plain: jsonschema::Validator,
}

impl Validators {
    fn new(schema: &Value) -> Validators {
        let mut extended = schema.clone();
        extended["properties"]["swarmwall"] = serde_json::json!({"type": "object"});
        Validators {
            extended: jsonschema::validator_for(&extended).unwrap(),
            plain: jsonschema::validator_for(schema).unwrap(),
        }
    }

    /// The reasons an event is not valid (empty: valid both ways).
    fn errors(&self, e: &Value) -> Vec<String> {
        let mut out: Vec<String> = self
            .extended
            .iter_errors(e)
            .map(|x| format!("{} at {}", x, x.instance_path()))
            .collect();
        let mut bare = e.clone();
        if let Some(o) = bare.as_object_mut() {
            o.remove("swarmwall");
        }
        out.extend(
            self.plain
                .iter_errors(&bare)
                .map(|x| format!("(without swarmwall) {} at {}", x, x.instance_path())),
        );
        out
    }
}

#[test]
fn every_event_fits_suricatas_schema_and_the_other_outputs() {
    let Some(schema) = schema() else { return };
    let v = Validators::new(&schema);
    let attack = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/attacks/attack-dht-reflection.pcap");
    let d = tmp("eve");
    let mut types = BTreeMap::<String, usize>::new();
    for (name, input) in [("sample", sample()), ("attack", attack)] {
        let (eve, flows, alerts) = (
            d.join(format!("{name}.eve.json")),
            d.join(format!("{name}.flows.jsonl")),
            d.join(format!("{name}.alerts.jsonl")),
        );
        let o = run(&[
            "analyze",
            "--quiet",
            s(&input),
            "--eve",
            s(&eve),
            "--flows",
            s(&flows),
            "--alerts",
            s(&alerts),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let events = json_lines(&std::fs::read(&eve).unwrap());
        let records = json_lines(&std::fs::read(&flows).unwrap());
        let incidents = json_lines(&std::fs::read(&alerts).unwrap());
        for e in &events {
            let errors = v.errors(e);
            assert!(errors.is_empty(), "{name}: {e}\n{}", errors.join("\n"));
            *types
                .entry(e["event_type"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        // One flow event per record, the record itself under `swarmwall`.
        let flow_events: Vec<&Value> = events
            .iter()
            .filter(|e| e["event_type"] == "flow")
            .collect();
        assert_eq!(flow_events.len(), records.len(), "{name}");
        for (e, r) in flow_events.iter().zip(&records) {
            assert_eq!(&e["swarmwall"], r, "{name}: the record, unchanged");
            assert_eq!(
                e["src_ip"].as_str().unwrap(),
                r["client"]
                    .as_str()
                    .unwrap()
                    .rsplit_once(':')
                    .unwrap()
                    .0
                    .trim_matches(['[', ']'])
            );
        }
        // DHT events belong to flows whose events carry the same id.
        let ids: BTreeSet<u64> = flow_events
            .iter()
            .map(|e| e["flow_id"].as_u64().unwrap())
            .collect();
        for e in events
            .iter()
            .filter(|e| e["event_type"] == "bittorrent_dht")
        {
            assert!(ids.contains(&e["flow_id"].as_u64().unwrap()), "{name}: {e}");
        }
        // One alert event per alert line.
        let alert_events = events.iter().filter(|e| e["event_type"] == "alert").count();
        assert_eq!(alert_events, incidents.len(), "{name}");
    }
    for t in ["flow", "bittorrent_dht", "alert"] {
        assert!(
            types.get(t).is_some_and(|n| *n > 0),
            "no {t} events: {types:?}"
        );
    }
    // The check can fail: an unknown top-level key, or a Suricata key of the wrong type.
    let bad = serde_json::json!({"timestamp": "2026-01-01T00:00:00.000000+0000", "event_type": "flow", "kind": "x"});
    assert!(!v.errors(&bad).is_empty());
    let bad = serde_json::json!({"timestamp": "2026-01-01T00:00:00Z", "event_type": "flow"});
    assert!(!v.errors(&bad).is_empty(), "Suricata's timestamp pattern");
    std::fs::remove_dir_all(&d).ok();
}
