"""DHT lookups in a capture, read with the lab's own bencode reader (no swarmwall, no tshark):
which targets each client asked for with get_peers and find_node, whether they are the lab's
torrents, and how near each other target is to the sender's own node id.

A client refreshing its routing table looks up targets near its own node id (libtorrent: its
id with random low bits, also by get_peers; transmission and aria2: find_node): those
targets are not torrents — a regression test checks that swarmwall never reports them as
info-hashes.
"""

from collections import Counter, defaultdict

from . import labels, torrent

BASIS = ("every UDP datagram of the capture (IP fragments reassembled) that bdecodes to a "
         "dictionary with y=q and q=get_peers (a.info_hash) or q=find_node (a.target); per "
         "sender IP: targets that are the lab's torrents (any of their 20-byte wire hashes) "
         "and the others, with the common-prefix length in bits between each other target and "
         "the sender's node id (a.id of that query): {cpl: count}")


def cpl(a, b):
    """Common-prefix length in bits of two byte strings."""
    n = 0
    for x, y in zip(a, b):
        d = x ^ y
        if d:
            return n + 8 - d.bit_length()
        n += 8
    return n


def _dict(payload):
    if payload[:1] != b"d" or payload[-1:] != b"e":
        return None
    try:
        d, end = torrent.bdecode(payload)
    except (ValueError, IndexError, KeyError):
        return None
    return d if isinstance(d, dict) and end == len(payload) else None


def lookups(pcap, infohashes):
    """{"per_sender": {ip: {...}}, "node_ids_seen": {ip: [hex]}, "summary": {...}}."""
    wanted = {bytes.fromhex(h) for h in infohashes}
    flows = labels.flows_of(pcap, whole=lambda proto, a, b: proto == "udp")
    per = defaultdict(lambda: {"get_peers": Counter(), "find_node": Counter(),
                               "other_cpl": {"get_peers": Counter(), "find_node": Counter()},
                               "other_targets": set()})
    ids = defaultdict(Counter)
    for f in flows.values():
        for ts, fwd, packets, total, payload in f.dgrams or []:
            d = _dict(payload)
            if d is None:
                continue
            sender = (f.a if fwd else f.b)[0]
            body = d.get(b"a") if d.get(b"y") == b"q" else d.get(b"r")
            if not isinstance(body, dict):
                continue
            nid = body.get(b"id")
            if isinstance(nid, bytes) and len(nid) == 20:
                ids[sender][nid.hex()] += 1
            if d.get(b"y") != b"q":
                continue
            q = d.get(b"q")
            key = {b"get_peers": b"info_hash", b"find_node": b"target"}.get(q)
            if key is None:
                continue
            target = body.get(key)
            if not isinstance(target, bytes) or len(target) != 20:
                continue
            name = q.decode()
            s = per[sender]
            if target in wanted:
                s[name]["torrent"] += 1
            else:
                s[name]["other"] += 1
                s["other_targets"].add(target)
                if isinstance(nid, bytes) and len(nid) == 20:
                    s["other_cpl"][name][cpl(target, nid)] += 1
    out = {}
    for ip, s in sorted(per.items(), key=lambda x: labels.ip_key(x[0])):
        out[ip] = {
            "get_peers": {"torrent": s["get_peers"]["torrent"], "other": s["get_peers"]["other"]},
            "find_node": {"torrent": s["find_node"]["torrent"], "other": s["find_node"]["other"]},
            "other_targets": len(s["other_targets"]),
            "other_cpl": {k: dict(sorted(v.items())) for k, v in s["other_cpl"].items()},
        }
    seen = {ip: [h for h, _ in c.most_common()] for ip, c in ids.items()}
    gp_other = sum(v["get_peers"]["other"] for v in out.values())
    fn_other = sum(v["find_node"]["other"] for v in out.values())
    near = sum(n for v in out.values() for k in ("get_peers", "find_node")
               for c, n in v["other_cpl"][k].items() if c >= 8)
    summary = {"get_peers_torrent": sum(v["get_peers"]["torrent"] for v in out.values()),
               "get_peers_other": gp_other, "find_node_other": fn_other,
               "other_targets": sum(v["other_targets"] for v in out.values()),
               "other_near_own_id(cpl>=8)": near}
    return {"per_sender": out, "node_ids_seen": seen, "summary": summary}
