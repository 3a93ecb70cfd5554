#!/usr/bin/python3
"""A libtorrent DHT client that knows one node only, looks up info-hashes through it, and says
which lookups that node answered (read from libtorrent's own DHT packet log).

usage: dht_probe.py MY_IP MY_PORT NODE_IP:NODE_PORT HASH...
prints one JSON line: {HASH: answered, ..., "ping": the node answered anything else}
"""

import json
import sys
import time
from pathlib import Path

import libtorrent as lt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torrent import bdecode  # noqa: E402

ip, port, node, hashes = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
ses = lt.session({
    "listen_interfaces": f"{ip}:{port}",
    "enable_dht": True, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "enable_incoming_tcp": False, "enable_outgoing_tcp": False,
    "enable_incoming_utp": False, "enable_outgoing_utp": False,
    "dht_bootstrap_nodes": node,
    "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
    "alert_mask": lt.alert_category.dht_log | lt.alert_category.dht,
}, lt.session_flags_t.start_default_features)

asked = {}      # transaction id -> info-hash (hex) of our get_peers
answered = {h: False for h in hashes}
other = False


def read_alerts():
    global other
    for a in ses.pop_alerts():
        if not isinstance(a, lt.dht_pkt_alert):
            continue
        try:
            msg, _ = bdecode(bytes(a.pkt_buf))
        except Exception:
            continue
        if not isinstance(msg, dict):
            continue
        tid, kind = msg.get(b"t"), msg.get(b"y")
        if kind == b"q" and msg.get(b"q") == b"get_peers":
            ih = msg.get(b"a", {}).get(b"info_hash", b"")
            if len(ih) == 20:
                asked[tid] = ih.hex()
        elif kind == b"r":
            if asked.get(tid) in answered:
                answered[asked[tid]] = True
            else:
                # an answer to anything else (bootstrap, find_node, ping)
                other = True


deadline = time.time() + 5
while time.time() < deadline and not other:
    ses.wait_for_alert(200)
    read_alerts()
for _ in range(3):
    for h in hashes:
        if not answered[h]:
            ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(h)))
    end = time.time() + 4
    while time.time() < end:
        ses.wait_for_alert(200)
        read_alerts()
    if all(answered.values()):
        break
answered["ping"] = other
print(json.dumps(answered))
