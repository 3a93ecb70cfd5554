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
                     last_ts, rule, check, tunnel
                     (`tunnel`: empty unless the flow goes to a proxy — see "proxies" below;
                     a SOCKS5 UDP relay flow has one row per target, client as a, relay as b)
"""

import csv
import datetime
import json
import ipaddress
import struct
from collections import OrderedDict
from pathlib import Path

BT_PROTOCOL = b"\x13BitTorrent protocol"
LSD_GROUP = "239.192.152.143"
LSD_GROUP6 = "ff15::efc0:988f"


# --- a minimal pcap reader (tcpdump writes classic pcap, Ethernet) ---------------------------

def read_pcap(path):
    """Yields (ts, ip_packet_bytes, ip_wire_len) for every IPv4 and IPv6 frame of an Ethernet
    pcap (the packet cut to its IP length; ip_wire_len from the IP header)."""
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
        if etype == b"\x08\x00" and ip[0] >> 4 == 4:
            total = struct.unpack(">H", ip[2:4])[0]
        elif etype == b"\x86\xdd" and ip[0] >> 4 == 6 and len(ip) >= 40:
            total = 40 + struct.unpack(">H", ip[4:6])[0]
        else:
            continue
        yield sec + frac * scale, ip[:total], total


V6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options (44: fragment)


def parse_ip(ip):
    """(src, dst, proto, l4 bytes, fragment) of an IPv4 or IPv6 packet; fragment is None or
    (identification, byte offset, more fragments) — for IPv6, from its fragment header."""
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        src = ".".join(map(str, ip[12:16]))
        dst = ".".join(map(str, ip[16:20]))
        flags = struct.unpack(">H", ip[6:8])[0]
        offset, more = (flags & 0x1fff) * 8, bool(flags & 0x2000)
        frag = (struct.unpack(">H", ip[4:6])[0], offset, more) if offset or more else None
        return src, dst, ip[9], ip[ihl:], frag
    src = str(ipaddress.IPv6Address(ip[8:24]))
    dst = str(ipaddress.IPv6Address(ip[24:40]))
    nxt, at, frag = ip[6], 40, None
    while True:
        if nxt in V6_EXTENSIONS and at + 2 <= len(ip):
            nxt, at = ip[at], at + 8 + ip[at + 1] * 8
        elif nxt == 44 and at + 8 <= len(ip):
            fo = struct.unpack(">H", ip[at + 2:at + 4])[0]
            frag = (struct.unpack(">I", ip[at + 4:at + 8])[0], fo & 0xfff8, bool(fo & 1))
            nxt, at = ip[at], at + 8
        else:
            break
    return src, dst, nxt, ip[at:], frag


PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 2: "igmp", 58: "icmp6"}


def ip_key(ip):
    """Sort key of an address: IPv4 before IPv6, then numerically (names last)."""
    try:
        a = ipaddress.ip_address(ip)
        return (a.version, int(a))
    except ValueError:
        return (99, 0, ip)


class Flow:
    __slots__ = ("proto", "a", "b", "packets", "bytes", "first", "last", "payloads", "dgrams",
                 "frags")

    def __init__(self, proto, a, b, ts):
        self.proto, self.a, self.b = proto, a, b
        self.packets = self.bytes = 0
        self.first = self.last = ts
        # per direction (from a, from b): list of payloads (first ones kept whole)
        self.payloads = ([], [])
        # every datagram (ts, from a?, packets, bytes, payload) — only where asked (a UDP relay)
        self.dgrams = None
        self.frags = 0


def flows_of(path, keep=64, whole=None):
    """Bidirectional flows per 5-tuple over the whole capture (ICMP/IGMP per address pair),
    with the first `keep` non-empty payloads of each direction (TCP ones in sequence order).
    `whole(proto, a, b)`: flows whose every datagram is kept (SOCKS5 UDP relays).

    IP fragments belong to the flow of their datagram: the fragments of one datagram (same
    source, destination, protocol and IP identification) are collected until the first
    (offset 0, holding the transport header) and the last (no more-fragments flag) are there
    and the bytes between are covered; then the datagram is reassembled, its 5-tuple read from
    the first fragment, and every fragment counted as a packet (with its own IP length) of that
    flow, the reassembled payload as one payload. A datagram never completed still goes to its
    flow if its first fragment was captured (payload not kept); fragments whose first one is
    missing go to a flow with ports 0."""
    flows = OrderedDict()
    pending = OrderedDict()

    def account(ts, src, dst, proto, l4, packets, total, complete=True, ts_last=None):
        sp = dp = 0
        payload = b""
        seq = 0
        name = PROTO_NAMES.get(proto, f"ip{proto}")
        if proto == 6 and len(l4) >= 20:
            sp, dp = struct.unpack(">HH", l4[:4])
            seq = struct.unpack(">I", l4[4:8])[0]
            payload = l4[(l4[12] >> 4) * 4:]
        elif proto == 17 and len(l4) >= 8:
            sp, dp = struct.unpack(">HH", l4[:4])
            payload = l4[8:]
        ends = sorted([(src, sp), (dst, dp)], key=lambda e: (ip_key(e[0]), e[1]))
        key = (name, ends[0], ends[1])
        f = flows.get(key)
        if f is None:
            f = flows[key] = Flow(name, ends[0], ends[1], ts)
            if whole and whole(name, ends[0], ends[1]):
                f.dgrams = []
        f.packets += packets
        f.bytes += total
        f.first = min(f.first, ts)
        f.last = max(f.last, ts_last or ts)
        if not complete:
            payload = b""
        fwd = (src, sp) == f.a
        if f.dgrams is not None and complete:
            f.dgrams.append((ts, fwd, packets, total, payload))
        if payload:
            d = f.payloads[0 if fwd else 1]
            if len(d) < keep:
                d.append((seq, payload))

    def try_reassemble(k):
        g = pending[k]
        frags = sorted(g, key=lambda x: x[1])
        if frags[0][1] != 0 or frags[-1][3]:
            return
        data, at = b"", 0
        for ts, off, chunk, more, total in frags:
            if off > at:
                return
            data = data[:off] + chunk if off < len(data) else data + chunk
            at = max(at, off + len(chunk))
        del pending[k]
        src, dst, proto, _ = k
        account(min(x[0] for x in frags), src, dst, proto, data, len(frags),
                sum(x[4] for x in frags), ts_last=max(x[0] for x in frags))

    for ts, ip, total in read_pcap(path):
        src, dst, proto, l4, frag = parse_ip(ip)
        if frag is None:
            account(ts, src, dst, proto, l4, 1, total)
            continue
        k = (src, dst, proto, frag[0])
        pending.setdefault(k, []).append((ts, frag[1], l4, frag[2], total))
        try_reassemble(k)
    for k, g in pending.items():
        src, dst, proto, _ = k
        frags = sorted(g, key=lambda x: x[1])
        l4 = frags[0][2] if frags[0][1] == 0 else b""
        account(min(x[0] for x in frags), src, dst, proto, l4, len(frags),
                sum(x[4] for x in frags), complete=False, ts_last=max(x[0] for x in frags))
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


# --- proxies: SOCKS4/5, HTTP CONNECT, HTTP absolute URIs, SOCKS5 UDP relays -----------------
#
# A connection to a proxy is labelled by what it carries: the proxy's own exchange (SOCKS
# greeting, method, username/password, request and reply; an HTTP CONNECT request and its
# reply) is parsed from each direction's byte stream, and the bytes after it form an inner
# flow client <-> target that the ordinary rules label (a tracker's address and port is
# tracker-http, a BitTorrent client's is a peer connection refined from the bytes, ...). The
# `tunnel` column says how: socks5:TARGET, socks4:TARGET, http-connect:TARGET, or
# http-proxy:HOST:PORT for a request with an absolute URI (not a tunnel: the proxy forwards the
# request). TARGET is IP:PORT, [IPv6]:PORT or NAME:PORT.

def _segments(payloads):
    """One TCP direction's payload segments in stream order, retransmissions dropped, with
    their offsets from the first one: [(offset, bytes)]."""
    if not payloads:
        return []
    base = payloads[0][0]
    seen, out = set(), []
    for seq, p in payloads:
        off = (seq - base) & 0xFFFFFFFF
        if off >= 1 << 31:  # before the first segment seen (reordering)
            continue
        if off in seen:
            continue
        seen.add(off)
        out.append((off, p))
    out.sort()
    return out


def _contiguous(payloads):
    """The start of a TCP direction's stream, up to its first gap."""
    data = b""
    for off, p in _segments(payloads):
        if off > len(data):
            break
        data = data[:off] + p if off + len(p) > len(data) else data
    return data


def _after(payloads, n):
    """The segments of a TCP direction after its first `n` stream bytes, as (seq, bytes)."""
    out = []
    for off, p in _segments(payloads):
        if off + len(p) <= n:
            continue
        if off < n:
            p, off = p[n - off:], n
        out.append((off, p))
    return out


def _addr(b, i, atyp):
    """(host, end) of a SOCKS5 address of type `atyp` at b[i:]."""
    if atyp == 1:
        return ".".join(map(str, b[i:i + 4])), i + 4
    if atyp == 4:
        return str(ipaddress.IPv6Address(b[i:i + 16])), i + 16
    if atyp == 3:
        n = b[i]
        return b[i + 1:i + 1 + n].decode("ascii", "replace"), i + 1 + n
    raise ValueError(f"address type {atyp}")


def target_text(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Tunnel:
    """What a proxy connection was: `kind` (socks5, socks4, http-connect, http-proxy,
    socks5-udp-associate), `target` (host, port), `ok` (the proxy granted it), and where the
    inner bytes start in each direction (client, proxy)."""

    def __init__(self, kind, target, ok, c_at, s_at, note=""):
        self.kind, self.target, self.ok = kind, target, ok
        self.c_at, self.s_at, self.note = c_at, s_at, note


def parse_socks5(c, s):
    """SOCKS5 (RFC 1928, RFC 1929 username/password) from the client's and the proxy's
    stream starts; raises IndexError/ValueError when incomplete or not SOCKS5."""
    if c[0] != 5:
        raise ValueError("not SOCKS5")
    i = 2 + c[1]
    if s[0] != 5:
        raise ValueError("bad method reply")
    method, j = s[1], 2
    if method == 0xFF:
        return Tunnel("socks5", None, False, i, j, "no acceptable method")
    note = ""
    if method == 2:
        if c[i] != 1:
            raise ValueError("bad username/password request")
        ulen = c[i + 1]
        plen = c[i + 2 + ulen]
        user = c[i + 2:i + 2 + ulen].decode("ascii", "replace")
        i += 3 + ulen + plen
        if s[j + 1] != 0:
            return Tunnel("socks5", None, False, i, j + 2, f"authentication of {user} refused")
        j += 2
        note = f"username {user}"
    if c[i] != 5 or c[i + 2] != 0:
        raise ValueError("bad request")
    cmd = c[i + 1]
    host, k = _addr(c, i + 4, c[i + 3])
    port = struct.unpack(">H", c[k:k + 2])[0]
    c_at = k + 2
    if s[j] != 5:
        raise ValueError("bad reply")
    rep = s[j + 1]
    bhost, m = _addr(s, j + 4, s[j + 3])
    bport = struct.unpack(">H", s[m:m + 2])[0]
    if m + 2 > len(s):
        raise IndexError("reply incomplete")
    s_at = m + 2
    kind = {1: "socks5", 2: "socks5-bind", 3: "socks5-udp-associate"}.get(cmd, f"socks5-cmd{cmd}")
    note = " ".join(x for x in (note, f"reply {rep}", f"bound {target_text(bhost, bport)}") if x)
    return Tunnel(kind, (host, port), rep == 0, c_at, s_at, note)


def parse_socks4(c, s):
    """SOCKS4 and 4a: request, user id, (4a) host name; an 8-byte reply (90 = granted)."""
    if c[0] != 4:
        raise ValueError("not SOCKS4")
    port = struct.unpack(">H", c[2:4])[0]
    host = ".".join(map(str, c[4:8]))
    end = c.index(b"\0", 8) + 1
    if c[4:7] == b"\0\0\0" and c[7]:
        e2 = c.index(b"\0", end)
        host, end = c[end:e2].decode("ascii", "replace"), e2 + 1
    if len(s) < 8:
        raise IndexError("reply incomplete")
    return Tunnel("socks4", (host, port), s[1] == 90, end, 8, f"reply {s[1]}")


def _http_head(b):
    end = b.index(b"\r\n\r\n") + 4
    return b[:end].decode("latin-1").split("\r\n")[0], end


def _host_port(authority, default):
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default
    host, _, port = authority.partition(":")
    return host, int(port) if port else default


def parse_http_proxy(c, s):
    """`CONNECT host:port` and the proxy's status line (2xx: the tunnel is open); or a
    request whose target is an absolute URI (`GET http://host:port/...`), forwarded as is."""
    line, c_end = _http_head(c)
    method, uri, _ = line.split(" ", 2)
    if method == "CONNECT":
        host, port = _host_port(uri, 443)
        status, s_end = _http_head(s)
        code = int(status.split(" ")[1])
        return Tunnel("http-connect", (host, port), 200 <= code < 300, c_end, s_end, f"status {code}")
    if uri.lower().startswith("http://"):
        host, port = _host_port(uri[7:].split("/", 1)[0], 80)
        return Tunnel("http-proxy", (host, port), True, 0, 0, f"{method} absolute URI")
    raise ValueError("not a proxy request")


def parse_proxy(c, s):
    """The proxy protocol of a connection from its first client byte."""
    if c[:1] == b"\x05":
        return parse_socks5(c, s)
    if c[:1] == b"\x04":
        return parse_socks4(c, s)
    return parse_http_proxy(c, s)


def _peek(b, n=14):
    t = "".join(chr(x) if 32 <= x < 127 and x != 44 else "." for x in b[:n])
    return t


def inner_label(flow, rules):
    """(label, rule id, check) of an inner (tunnelled) flow by the ordinary rules."""
    for r in rules:
        if r.matches(flow):
            if r.refine:
                sub, check = REFINERS[r.refine](flow)
                return (f"bittorrent:{sub}" if sub else "unlabeled"), r.id, check
            first = [d[0][1] for d in flow.payloads if d]
            return r.label, r.id, (f"inner starts {_peek(first[0])}" if first else "no inner payload")
    return "unlabeled", "", "no rule for the inner flow"


def proxy_tcp_rows(f, rule, inner_rules):
    """One row for a TCP connection to a proxy: the inner kind and the tunnel."""
    client_first = f.a[0] not in rule.b
    client, proxy = (f.a, f.b) if client_first else (f.b, f.a)
    cp, sp = f.payloads if client_first else f.payloads[::-1]
    c, s = _contiguous(cp), _contiguous(sp)
    if not c:
        return [("unlabeled", "", "no payload from the client: no proxy request")]
    try:
        t = parse_proxy(c, s)
    except (IndexError, ValueError) as e:
        return [("unlabeled", "", f"proxy exchange incomplete or unknown ({e})")]
    if t.kind == "socks5-udp-associate":
        return [("non-bittorrent:socks5-udp-associate", "", f"UDP ASSOCIATE {t.note}")]
    if t.target is None:
        return [("unlabeled", "", f"{t.kind}: {t.note}")]
    inner = Flow("tcp", client, t.target, f.first)
    if t.ok:
        inner.payloads = (_after(cp, t.c_at), _after(sp, t.s_at))
    lab, rid, check = inner_label(inner, inner_rules)
    tunnel = f"{t.kind}:{target_text(*t.target)}"
    return [(lab, tunnel, f"{t.note}; {check}" if check else t.note)]


def socks5_udp_rows(f, rule, inner_rules, keep=64):
    """A SOCKS5 UDP relay flow (client socket <-> the relay's port) split per target: every
    datagram starts with RSV(2) FRAG ATYP DST.ADDR DST.PORT; one row per target with that
    target's packets, bytes and the kinds of its datagrams (the ordinary rules applied to
    client <-> target)."""
    client_first = f.a[0] not in rule.b
    client, relay = (f.a, f.b) if client_first else (f.b, f.a)
    per = OrderedDict()
    for ts, fwd, packets, total, payload in f.dgrams or []:
        from_client = fwd == client_first
        try:
            if payload[:2] != b"\0\0":
                raise ValueError("RSV not zero")
            frag = payload[2]
            host, k = _addr(payload, 4, payload[3])
            port = struct.unpack(">H", payload[k:k + 2])[0]
            if k + 2 > len(payload):
                raise ValueError("short")
            target, inner = (host, port), payload[k + 2:]
        except (IndexError, ValueError):
            target, inner, frag = None, b"", 0
        g = per.get(target)
        if g is None:
            g = per[target] = Flow("udp", client, target or ("?", 0), ts)
        g.packets += packets
        g.bytes += total
        g.first, g.last = min(g.first, ts), max(g.last, ts)
        if frag:
            g.frags += 1
        d = g.payloads[0 if from_client else 1]
        if inner and len(d) < keep:
            d.append((0, inner))
    rows = []
    for target, g in per.items():
        if target is None:
            rows.append((g, "unlabeled", "", "datagrams without a SOCKS5 UDP header"))
            continue
        lab, rid, check = inner_label(g, inner_rules)
        if g.frags:
            check = f"{check}; {g.frags} SOCKS-fragmented datagrams"
        rows.append((g, lab, f"socks5:{target_text(*target)}", check))
    return client, relay, rows


# --- rules ---------------------------------------------------------------------------------

class Rule:
    """Label flows of `proto` between an address of `a` and an address of `b` (either
    orientation), optionally on `b_port`, then optionally refine the sub-label. A proxy rule
    (refine `proxy-tcp` or `socks5-udp`; `b` the proxy) labels what the connection carries by
    the `inner` rules."""

    def __init__(self, id, label, proto, a, b, b_port=None, refine=None, basis="", inner=None):
        self.id, self.label, self.proto = id, label, proto
        self.a, self.b, self.b_port = a, b, b_port
        self.refine, self.basis = refine, basis
        self.inner = inner

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
        if self.inner:
            d["inner"] = [r.id for r in self.inner]
        d["basis"] = self.basis
        return d


REFINERS = {
    "bt-tcp-handshake": refine_tcp_peer,
    "bt-udp": refine_udp_peer,
}

REFINER_TEXT = {
    "bt-tcp-handshake": refine_tcp_peer.__doc__.strip(),
    "bt-udp": refine_udp_peer.__doc__.strip(),
    "proxy-tcp": "A connection to a proxy: the SOCKS5 (RFC 1928/1929), SOCKS4/4a or HTTP "
                 "CONNECT exchange is parsed from each direction's stream; the bytes after the "
                 "proxy's reply form the inner flow client <-> target, labelled by the inner "
                 "rules (a refined inner rule reads those bytes); tunnel = socks5:TARGET, "
                 "socks4:TARGET or http-connect:TARGET. A request with an absolute URI "
                 "(GET http://host:port/...) is labelled by its host and port, tunnel = "
                 "http-proxy:HOST:PORT. A SOCKS5 UDP ASSOCIATE control connection is "
                 "non-bittorrent:socks5-udp-associate (no tunnel); a granted tunnel with no "
                 "inner bytes gets the inner rule's nopayload label; a refused one too.",
    "socks5-udp": socks5_udp_rows.__doc__.strip(),
}

COLUMNS = ["proto", "ip_a", "port_a", "ip_b", "port_b", "packets", "bytes", "label",
           "first_ts", "last_ts", "rule", "check", "tunnel"]


def _clean(text):
    """flows.csv is read by splitting on commas: no commas inside a field."""
    return str(text).replace(",", ";").replace("\n", " ")


def label(pcap, rules):
    """Labels every flow of a capture; returns rows for the CSV."""
    relays = [r for r in rules if r.refine == "socks5-udp"]
    whole = None
    if relays:
        whole = lambda proto, a, b: any(r.matches(Flow(proto, a, b, 0)) for r in relays)
    rows = []
    for f in flows_of(pcap, whole=whole).values():
        lab, rule_id, check, tunnel = "unlabeled", "", "", ""
        for r in rules:
            if not r.matches(f):
                continue
            rule_id = r.id
            if r.refine == "proxy-tcp":
                lab, tunnel, check = proxy_tcp_rows(f, r, r.inner or [])[0]
            elif r.refine == "socks5-udp":
                client, relay, parts = socks5_udp_rows(f, r, r.inner or [])
                for g, glab, gtun, gcheck in parts:
                    rows.append([f.proto, client[0], client[1], relay[0], relay[1], g.packets,
                                 g.bytes, glab, f"{g.first:.6f}", f"{g.last:.6f}", r.id,
                                 _clean(gcheck), _clean(gtun)])
                lab = None
            elif r.refine:
                sub, check = REFINERS[r.refine](f)
                lab = f"bittorrent:{sub}" if sub else "unlabeled"
            else:
                lab = r.label
            break
        if lab is None:
            continue
        rows.append([f.proto, f.a[0], f.a[1], f.b[0], f.b[1], f.packets, f.bytes, lab,
                     f"{f.first:.6f}", f"{f.last:.6f}", rule_id, _clean(check), _clean(tunnel)])
    return rows


def fragment_count(pcap):
    """{"fragments": IP fragments in the capture, "datagrams": datagrams they belong to,
    "udp_datagrams": of those, UDP ones, "dht_replies": of those, DHT replies}."""
    groups = {}
    for ts, ip, total in read_pcap(pcap):
        src, dst, proto, l4, frag = parse_ip(ip)
        if frag:
            g = groups.setdefault((src, dst, proto, frag[0]), [proto, 0, b""])
            g[1] += 1
            if frag[1] == 0:
                g[2] = l4
    udp = [g for g in groups.values() if g[0] == 17]
    # a DHT reply's keys are sorted: "ip" (optional), then "r" with its "id" — in the first
    # fragment ("y" comes last)
    dht = [g for g in udp if g[2][8:9] == b"d" and b"1:rd2:id20:" in g[2][8:60]]
    return {"fragments": sum(g[1] for g in groups.values()), "datagrams": len(groups),
            "udp_datagrams": len(udp), "dht_replies": len(dht)}


def write(out_prefix, scenario, network, hosts, rules, notes=(), extra=None):
    """Writes NAME.labels.json and NAME.flows.csv next to NAME.pcap."""
    pcap = Path(f"{out_prefix}.pcap")
    rows = label(pcap, rules)
    with open(f"{out_prefix}.flows.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(COLUMNS)
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
