#!/usr/bin/python3
"""Bare DHT nodes for the lab: one libtorrent session per address, all in one process.

usage: lt_dht_nodes.py PORT BOOTSTRAP IP...   (BOOTSTRAP is "ip:port" or "-")
Runs until SIGTERM.
"""

import signal
import sys
import time

import libtorrent as lt

port, bootstrap, ips = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
sessions = []
for ip in ips:
    s = lt.session({
        "listen_interfaces": f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}",
        "enable_dht": True, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_tcp": False, "enable_outgoing_tcp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "dht_bootstrap_nodes": "" if bootstrap == "-" else bootstrap,
        "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
        "alert_mask": 0,
    }, lt.session_flags_t.start_default_features)
    sessions.append(s)
    time.sleep(0.05)

running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
while running:
    for s in sessions:
        s.pop_alerts()
    time.sleep(0.5)
