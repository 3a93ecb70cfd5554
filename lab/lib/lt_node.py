#!/usr/bin/python3
"""A libtorrent-rasterbar node for the lab (python3-libtorrent): seeder, leecher or a bare
DHT node, configured from a JSON file. Writes its state to `status.json` beside the config
every half second; stops on SIGTERM.

Config keys: listen (ip), port, tcp, utp, dht, lsd, pex (bools), encryption
("plain" | "prefer" | "require-rc4" | "require-plaintext"), bootstrap (["ip:port"]),
torrent (path) or magnet (uri), extra (more {torrent} or {magnet}), save (dir), seed (bool),
peer_timeout (s), upnp off always; proxy ({type: socks5 | socks5_pw | socks4 | http | http_pw,
host, port, user, password}: peers, trackers, DHT and uTP through it). status.json also holds
the torrents' info-hashes (v1, v2) and every DHT node id the session had.
"""

import json
import signal
import sys
import time
import warnings
from pathlib import Path

import libtorrent as lt

warnings.filterwarnings("ignore", category=DeprecationWarning)  # dht_state()

cfg_path = Path(sys.argv[1])
cfg = json.loads(cfg_path.read_text())
status_path = cfg_path.with_name("status.json")

enc = cfg.get("encryption", "plain")
policy = {
    "plain": lt.enc_policy.disabled,
    "prefer": lt.enc_policy.enabled,
    "require-rc4": lt.enc_policy.forced,
    "require-plaintext": lt.enc_policy.forced,
}[enc]
level = {
    "plain": lt.enc_level.both,
    "prefer": lt.enc_level.both,
    "require-rc4": lt.enc_level.rc4,
    "require-plaintext": lt.enc_level.plaintext,
}[enc]

listen = cfg["listen"]
settings = {
    "listen_interfaces": f"[{listen}]:{cfg['port']}" if ":" in listen else f"{listen}:{cfg['port']}",
    "enable_incoming_tcp": cfg.get("tcp", True),
    "enable_outgoing_tcp": cfg.get("tcp", True),
    "enable_incoming_utp": cfg.get("utp", True),
    "enable_outgoing_utp": cfg.get("utp", True),
    "enable_dht": cfg.get("dht", False),
    "enable_lsd": cfg.get("lsd", False),
    "enable_upnp": False,
    "enable_natpmp": False,
    "out_enc_policy": policy,
    "in_enc_policy": policy,
    "allowed_enc_level": level,
    "prefer_rc4": enc == "require-rc4",
    "dht_bootstrap_nodes": ",".join(cfg.get("bootstrap", [])),
    # All lab hosts share one /24: lift libtorrent's anti-Sybil limits.
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "allow_multiple_connections_per_ip": True,
    "peer_timeout": int(cfg.get("peer_timeout", 20)),
    "announce_to_all_trackers": True,
    "announce_to_all_tiers": True,
    "alert_mask": lt.alert_category.error | lt.alert_category.status,
    "user_agent": "lab",
}
PROXY_TYPES = {"none": 0, "socks4": 1, "socks5": 2, "socks5_pw": 3, "http": 4, "http_pw": 5}
proxy = cfg.get("proxy")
if proxy:
    settings.update({
        "proxy_type": PROXY_TYPES[proxy["type"]],
        "proxy_hostname": proxy["host"], "proxy_port": int(proxy["port"]),
        "proxy_username": proxy.get("user", ""), "proxy_password": proxy.get("password", ""),
        "proxy_peer_connections": True, "proxy_tracker_connections": True,
        "proxy_hostnames": True,
    })
# Plugins chosen explicitly: ut_metadata (magnet links) always, ut_pex only when asked.
ses = lt.session(settings, lt.session_flags_t.start_default_features)
ses.add_extension("ut_metadata")
ses.add_extension("smart_ban")
if cfg.get("pex", False):
    ses.add_extension("ut_pex")

def add(spec):
    if spec.get("torrent"):
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(spec["torrent"])
    elif spec.get("magnet"):
        params = lt.parse_magnet_uri(spec["magnet"])
    else:
        return None
    params.save_path = cfg["save"]
    if cfg.get("seed"):
        params.flags |= lt.torrent_flags.seed_mode
    return ses.add_torrent(params)


handle = add(cfg)
extra = [add(x) for x in cfg.get("extra", [])]

running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

node_ids = []
ticks = 0
while running:
    st = {"time": time.time()}
    if handle is not None:
        s = handle.status()
        st.update(progress=s.progress, state=str(s.state), peers=s.num_peers,
                  seeding=s.is_seeding, downloaded=s.total_done)
    hashes = []
    for h in [handle] + extra:
        if h is None:
            continue
        ih = h.status().info_hashes
        hashes.append({"v1": str(ih.v1) if ih.has_v1() else None,
                       "v2": str(ih.v2) if ih.has_v2() else None})
    st["info_hashes"] = hashes
    st["dht_nodes"] = ses.status().dht_nodes
    if cfg.get("dht") and ticks % 4 == 0:
        # The node id changes when libtorrent learns its external address (BEP 42): keep all.
        for nid in ses.dht_state().get(b"node-id", []):
            h = nid[:20].hex()
            if h not in node_ids:
                node_ids.append(h)
    ticks += 1
    st["dht_node_ids"] = node_ids
    tmp = status_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(st))
    tmp.replace(status_path)
    ses.pop_alerts()
    time.sleep(0.5)
