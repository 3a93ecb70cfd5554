//! X-ARF v4 reports of category `copyright`, type `p2p` (JSON).

use serde_json::Value;

use crate::values;
use crate::{Format, Notice};

/// Reads an X-ARF report.
pub fn parse(json: &str) -> Result<Notice, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("X-ARF JSON: {e}"))?;
    let Some(obj) = v.as_object() else {
        return Err("X-ARF JSON: not an object".into());
    };
    let version = obj
        .get("xarf_version")
        .and_then(Value::as_str)
        .ok_or("X-ARF JSON: no xarf_version (not an X-ARF report)")?;
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let mut n = Notice {
        format: Format::Xarf(version.to_string()),
        case_id: s("report_id"),
        complainant: s("rights_holder").or_else(|| {
            obj.get("reporter")?
                .get("org")?
                .as_str()
                .map(str::to_string)
        }),
        title: s("work_title"),
        protocol: s("p2p_protocol"),
        ..Notice::default()
    };
    match (s("category").as_deref(), s("type").as_deref()) {
        (Some("copyright"), Some("p2p")) => {}
        (c, t) => n.problems.push(format!(
            "X-ARF category {:?} type {:?}, not copyright/p2p",
            c.unwrap_or(""),
            t.unwrap_or("")
        )),
    }
    if let Some(ip) = s("source_identifier") {
        match ip.parse() {
            Ok(a) => n.ip = Some(a),
            Err(_) => n
                .problems
                .push(format!("source_identifier {ip:?} is not an IP address")),
        }
    }
    n.port = obj
        .get("source_port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok());
    if let Some(t) = s("timestamp") {
        match values::time(&t) {
            Some(w) => {
                n.time = Some(w.secs);
                n.problems.extend(w.problem);
            }
            None => n.problems.push(format!("timestamp {t:?} is not a time")),
        }
    }
    if let Some(sw) = obj.get("swarm_info") {
        let hash = sw.get("info_hash").and_then(Value::as_str);
        let magnet = sw.get("magnet_uri").and_then(Value::as_str);
        n.infohash = hash
            .and_then(values::infohash)
            .or_else(|| magnet.and_then(values::infohash));
        if let (Some(a), Some(b)) = (
            hash.and_then(values::infohash),
            magnet.and_then(values::infohash),
        ) && a != b
        {
            n.problems
                .push(format!("info_hash {a} and magnet_uri {b} differ"));
        }
        if n.infohash.is_none()
            && let Some(h) = hash.or(magnet)
        {
            n.problems.push(format!(
                "hash {h:?} is not 40 hex digits (nor a magnet link): taken as no hash"
            ));
        }
        n.filename = sw
            .get("torrent_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        n.filesize = sw.get("total_size").and_then(Value::as_u64);
    }
    Ok(n)
}
