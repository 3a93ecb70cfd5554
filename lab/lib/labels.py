"""Ground truth for a lab capture: which flows carry which kind, by construction and by bytes.

The lab knows which host runs what, so most labels follow from addresses: a TCP flow to the
tracker's port is `tracker-http`, a TCP flow between two BitTorrent clients is a peer
connection, a UDP flow to the LSD group is `lsd`, a flow to the background web server's port
443 is `https`. What construction cannot know — whether a peer connection was encrypted, and
whether a UDP flow between clients carried DHT, uTP or both — is decided from the captured
bytes by the refiners below, which share no code with swarmwall.

Output files (the same format as ../shared/corpus/lab):
  NAME.labels.json   hosts (role, address, software, version, configuration) and the rules;
  NAME.flows.csv     one row per bidirectional flow (5-tuple over the whole capture):
                     proto, ip_a, port_a, ip_b, port_b, packets, bytes, label, first_ts,
                     last_ts, rule, check
"""

import csv
import datetime
import json
import struct
from collections import OrderedDict
from pathlib import Path

BT_PROTOCOL = b"\x13BitTorrent protocol"
LSD_GROUP = "239.192.152.143"


# --- a minimal pcap reader (tcpdump writes classic pcap, Ethernet) ---------------------------

def read_pcap(path):
    """Yields (ts, ip_packet_bytes, ip_wire_len) for every IPv4 frame of an Ethernet pcap."""
    data = Path(path).read_bytes()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, scale = "<", 1e-6
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, scale = "<", 1e-9
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, scale = ">", 1e-6
    else:
        raise ValueError(f"{path}: not a classic pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
    off = 24
    hdr = struct.Struct(endian + "IIII")
    while off + 16 <= len(data):
        sec, frac, incl, orig = hdr.unpack_from(data, off)
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) < 34:
            continue
        etype = frame[12:14]
        ip = frame[14:]
        if etype == b"\x81\x00":
            etype, ip = frame[16:18], frame[18:]
        if etype != b"\x08\x00" or ip[0] >> 4 != 4:
            continue
        total = struct.unpack(">H", ip[2:4])[0]
        yield sec + frac * scale, ip[:total], total


class Flow:
    __slots__ = ("proto", "a", "b", "packets", "bytes", "first", "last", "payloads")

    def __init__(self, proto, a, b, ts):
        self.proto, self.a, self.b = proto, a, b
        self.packets = self.bytes = 0
        self.first = self.last = ts
        # per direction (from a, from b): list of payloads (first ones kept whole)
        self.payloads = ([], [])


def flows_of(path, keep=64):
    """Bidirectional flows per 5-tuple over the whole capture (ICMP/IGMP per address pair),
    with the first `keep` non-empty payloads of each direction (TCP ones in sequence order)."""
    flows = OrderedDict()
    for ts, ip, total in read_pcap(path):
        ihl = (ip[0] & 15) * 4
        proto = ip[9]
        src = ".".join(map(str, ip[12:16]))
        dst = ".".join(map(str, ip[16:20]))
        frag = struct.unpack(">H", ip[6:8])[0] & 0x1fff
        l4 = ip[ihl:]
        sp = dp = 0
        payload = b""
        seq = 0
        if proto == 6 and frag == 0 and len(l4) >= 20:
            sp, dp = struct.unpack(">HH", l4[:4])
            seq = struct.unpack(">I", l4[4:8])[0]
            payload = l4[(l4[12] >> 4) * 4:]
            name = "tcp"
        elif proto == 17 and frag == 0 and len(l4) >= 8:
            sp, dp = struct.unpack(">HH", l4[:4])
            payload = l4[8:]
            name = "udp"
        elif proto == 1:
            name = "icmp"
        elif proto == 2:
            name = "igmp"
        else:
            name = f"ip{proto}"
        ends = sorted([(src, sp), (dst, dp)], key=lambda e: (tuple(map(int, e[0].split("."))), e[1]))
        key = (name, ends[0], ends[1])
        f = flows.get(key)
        if f is None:
            f = flows[key] = Flow(name, ends[0], ends[1], ts)
        f.packets += 1
        f.bytes += total
        f.last = ts
        if payload:
            d = f.payloads[0 if (src, sp) == f.a else 1]
            if len(d) < keep:
                d.append((seq, payload))
    return flows


# --- refiners ------------------------------------------------------------------------------

def _stream_start(payloads, n=4):
    """The first `n` payload segments of one TCP direction, joined in sequence order
    (retransmissions dropped)."""
    seen, out = set(), []
    for seq, p in payloads:
        if seq in seen:
            continue
        seen.add(seq)
        out.append((seq, p))
        if len(out) == n:
            break
    if not out:
        return b""
    base = out[0][0]
    out.sort(key=lambda x: (x[0] - base) & 0xFFFFFFFF)
    return b"".join(p for _, p in out)


def refine_tcp_peer(flow):
    """peer-tcp if either side's first payload starts with the plaintext handshake;
    peer-tcp-mse-plaintext if the handshake comes within the first 4 segments of a side after
    other bytes (an MSE exchange that selected plaintext); peer-tcp-mse if there is payload but
    no handshake (MSE/PE throughout); peer-tcp-nopayload if no payload."""
    a, b = flow.payloads
    if not a and not b:
        return "peer-tcp-nopayload", "no payload"
    firsts = [d[0][1] for d in (a, b) if d]
    if any(p.startswith(BT_PROTOCOL) for p in firsts):
        return "peer-tcp", "plaintext handshake first"
    if any(BT_PROTOCOL in _stream_start(d) for d in (a, b) if d):
        return "peer-tcp-mse-plaintext", "handshake after an MSE exchange"
    return "peer-tcp-mse", "payload without a plaintext handshake"


def _utp_header(p):
    """(type, header length incl. extensions) of a uTP packet, or None."""
    if len(p) < 20 or p[0] & 15 != 1 or p[0] >> 4 > 4:
        return None
    ext, at = p[1], 20
    while ext:
        if at + 2 > len(p):
            return None
        ext, n = p[at], p[at + 1]
        at += 2 + n
    if at > len(p):
        return None
    return p[0] >> 4, at


def refine_udp_peer(flow):
    """Per datagram: DHT if it is a bencoded dictionary with "1:y1:", uTP if it has a uTP
    header. uTP data gets the TCP test: plaintext handshake → peer-utp, data without one →
    peer-utp-mse, no data → peer-utp-nopayload. The label is the set of kinds seen."""
    kinds = set()
    data = ([], [])
    other = 0
    for i, d in enumerate(flow.payloads):
        for _, p in d:
            if p[:1] == b"d" and p[-1:] == b"e" and b"1:y1:" in p:
                kinds.add("dht")
                continue
            h = _utp_header(p)
            if h is None:
                other += 1
                continue
            kinds.add("utp")
            if h[0] == 0 and len(p) > h[1]:
                data[i].append(p[h[1]:])
    if "utp" in kinds:
        kinds.discard("utp")
        if not data[0] and not data[1]:
            kinds.add("peer-utp-nopayload")
        elif any(BT_PROTOCOL in b"".join(d[:4]) for d in data if d):
            starts = [d[0] for d in data if d]
            if any(s.startswith(BT_PROTOCOL) for s in starts):
                kinds.add("peer-utp")
            else:
                kinds.add("peer-utp-mse-plaintext")
        else:
            kinds.add("peer-utp-mse")
    if not kinds:
        return None, f"{other} datagrams neither DHT nor uTP"
    return "+".join(sorted(kinds)), f"{other} other datagrams" if other else ""


# --- rules ---------------------------------------------------------------------------------

class Rule:
    """Label flows of `proto` between an address of `a` and an address of `b` (either
    orientation), optionally on `b_port`, then optionally refine the sub-label."""

    def __init__(self, id, label, proto, a, b, b_port=None, refine=None, basis=""):
        self.id, self.label, self.proto = id, label, proto
        self.a, self.b, self.b_port = a, b, b_port
        self.refine, self.basis = refine, basis

    def matches(self, f):
        if self.proto != "*" and f.proto != self.proto:
            return False
        for x, y in ((f.a, f.b), (f.b, f.a)):
            if (self.a == "*" or x[0] in self.a) and (self.b == "*" or y[0] in self.b) and (
                    self.b_port is None or y[1] == self.b_port):
                return True
        return False

    def as_json(self):
        d = {"id": self.id, "label": self.label, "proto": self.proto, "a": self.a, "b": self.b}
        if self.b_port is not None:
            d["b_port"] = self.b_port
        if self.refine:
            d["refine"] = self.refine
        d["basis"] = self.basis
        return d


REFINERS = {
    "bt-tcp-handshake": refine_tcp_peer,
    "bt-udp": refine_udp_peer,
}

REFINER_TEXT = {
    "bt-tcp-handshake": refine_tcp_peer.__doc__.strip(),
    "bt-udp": refine_udp_peer.__doc__.strip(),
}


def label(pcap, rules):
    """Labels every flow of a capture; returns rows for the CSV."""
    rows = []
    for f in flows_of(pcap).values():
        lab, rule_id, check = "unlabeled", "", ""
        for r in rules:
            if r.matches(f):
                rule_id = r.id
                if r.refine:
                    sub, check = REFINERS[r.refine](f)
                    lab = f"bittorrent:{sub}" if sub else "unlabeled"
                else:
                    lab = r.label
                break
        rows.append([f.proto, f.a[0], f.a[1], f.b[0], f.b[1], f.packets, f.bytes, lab,
                     f"{f.first:.6f}", f"{f.last:.6f}", rule_id, check])
    return rows


def write(out_prefix, scenario, network, hosts, rules, notes=(), extra=None):
    """Writes NAME.labels.json and NAME.flows.csv next to NAME.pcap."""
    pcap = Path(f"{out_prefix}.pcap")
    rows = label(pcap, rules)
    with open(f"{out_prefix}.flows.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["proto", "ip_a", "port_a", "ip_b", "port_b", "packets", "bytes", "label",
                    "first_ts", "last_ts", "rule", "check"])
        w.writerows(rows)
    meta = {
        "scenario": scenario, "pcap": pcap.name, "network": network,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
        "label_scheme": "<class>:<sub>; class bittorrent | non-bittorrent | other; first matching "
                        "rule wins (endpoints in either orientation); a refined rule takes its "
                        "sub-label from the bytes (refiners); no match -> unlabeled",
        "hosts": hosts, "rules": [r.as_json() for r in rules],
        "refiners": {k: v for k, v in REFINER_TEXT.items()},
        "notes": list(notes),
    }
    Path(f"{out_prefix}.labels.json").write_text(json.dumps(meta, indent=1) + "\n")
    counts = {}
    for r in rows:
        counts[r[7]] = counts.get(r[7], 0) + 1
    return counts
