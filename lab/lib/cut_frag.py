#!/usr/bin/python3
"""Cuts a small capture out of a `dht-frag` run: one DHT get_peers query, its IP-fragmented
reply (every fragment), and the next two packets of the same UDP flow that are not fragmented.

usage: cut_frag.py CAPTURE OUT.pcap
Prints what it kept (addresses, the query's info-hash and transaction id, the fragments) as
JSON. Picks the first reply that is fragmented and holds `values` (peers) if there is one,
else the first fragmented reply to a get_peers.
"""

import json
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lib import labels, torrent  # noqa: E402


def records(path):
    """(index, raw record bytes, ip bytes or None) of every record of a classic pcap."""
    data = Path(path).read_bytes()
    if data[:4] != b"\xd4\xc3\xb2\xa1":
        raise ValueError("expected a little-endian microsecond pcap (tcpdump's)")
    off, i = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        rec = data[off:off + 16 + incl]
        frame = rec[16:]
        ip = None
        if len(frame) > 34 and frame[12:14] == b"\x08\x00":
            ip = frame[14:14 + struct.unpack(">H", frame[16:18])[0]]
        yield i, rec, ip
        off += 16 + incl
        i += 1
    return data[:24]


def main(src, dst):
    header = Path(src).read_bytes()[:24]
    recs = list(records(src))
    # reassemble UDP datagrams, remembering which records made each
    pending, datagrams = {}, []  # datagram: (first record index, [record indexes], src, dst, sport, dport, payload)
    for i, rec, ip in recs:
        if ip is None or ip[9] != 17:
            continue
        s, d, proto, l4, frag = labels.parse_ip(ip)
        if frag is None:
            sp, dp = struct.unpack(">HH", l4[:4])
            datagrams.append((i, [i], s, d, sp, dp, l4[8:]))
            continue
        key = (s, d, frag[0])
        g = pending.setdefault(key, [])
        g.append((frag[1], l4, frag[2], i))
        g.sort()
        if g[0][0] == 0 and not g[-1][2]:
            data = b""
            for off, chunk, _, _ in g:
                data = data[:off] + chunk
            if len(data) == g[-1][0] + len(g[-1][1]):
                sp, dp = struct.unpack(">HH", data[:4])
                idx = [x[3] for x in g]
                datagrams.append((min(idx), sorted(idx), s, d, sp, dp, data[8:]))
                del pending[key]

    def dht(p):
        try:
            v, end = torrent.bdecode(p)
            return v if isinstance(v, dict) and end == len(p) else None
        except (ValueError, IndexError, KeyError):
            return None

    queries = {}
    best = None
    for n, (first, idx, s, d, sp, dp, p) in enumerate(datagrams):
        m = dht(p) if p[:1] == b"d" else None
        if not m:
            continue
        if m.get(b"y") == b"q" and m.get(b"q") == b"get_peers":
            queries[(s, sp, d, dp, m.get(b"t"))] = (n, m)
        elif m.get(b"y") == b"r" and len(idx) > 1:
            q = queries.get((d, dp, s, sp, m.get(b"t")))
            if not q:
                continue
            has_values = b"values" in m.get(b"r", {})
            cand = (not has_values, n, q, m)
            if best is None or cand[:2] < best[:2]:
                best = cand
    if best is None:
        sys.exit("no fragmented reply to a get_peers query in the capture")
    _, n, (qn, qm), rm = best
    reply = datagrams[n]
    query = datagrams[qn]
    flow = {(reply[2], reply[4]), (reply[3], reply[5])}
    after = [dg for dg in datagrams[n + 1:] if len(dg[1]) == 1 and {(dg[2], dg[4]), (dg[3], dg[5])} == flow][:2]
    keep = sorted(set(query[1] + reply[1] + [i for dg in after for i in dg[1]]))
    out = bytearray(header)
    for i in keep:
        out += recs[i][1]
    Path(dst).write_bytes(bytes(out))
    r = rm[b"r"]
    info = {
        "records_kept": len(keep), "bytes": len(out),
        "querier": f"{query[2]}:{query[4]}", "responder": f"{reply[2]}:{reply[4]}",
        "query": "get_peers", "info_hash": qm[b"a"][b"info_hash"].hex(),
        "transaction_id": qm[b"t"].hex(), "querier_node_id": qm[b"a"][b"id"].hex(),
        "reply_udp_payload_bytes": len(reply[6]), "reply_fragments": len(reply[1]),
        "reply_has": sorted(k.decode() for k in r if isinstance(k, bytes)),
        "reply_values": len(r.get(b"values", [])),
        "reply_nodes": len(r.get(b"nodes", b"")) // 26,
        "ip_identification": None,
        "other_packets": [f"{dg[2]}:{dg[4]} -> {dg[3]}:{dg[5]} {len(dg[6])} bytes" for dg in after],
        "frame_numbers_in_source": [i + 1 for i in keep],
    }
    ip = recs[reply[1][0]][2]
    info["ip_identification"] = struct.unpack(">H", ip[4:6])[0]
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
