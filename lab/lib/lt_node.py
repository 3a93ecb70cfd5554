#!/usr/bin/python3
"""A libtorrent-rasterbar node for the lab (python3-libtorrent): seeder, leecher or a bare
DHT node, configured from a JSON file. Writes its state to `status.json` beside the config
every half second; stops on SIGTERM.

Config keys: listen (ip), port, tcp, utp, dht, lsd, pex (bools), encryption
("plain" | "prefer" | "require-rc4" | "require-plaintext"), bootstrap (["ip:port"]),
torrent (path) or magnet (uri), extra (more {torrent} or {magnet}), save (dir), seed (bool),
peer_timeout (s), upnp off always.
"""

import json
import signal
import sys
import time
from pathlib import Path

import libtorrent as lt

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

settings = {
    "listen_interfaces": f"{cfg['listen']}:{cfg['port']}",
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

while running:
    st = {"time": time.time()}
    if handle is not None:
        s = handle.status()
        st.update(progress=s.progress, state=str(s.state), peers=s.num_peers,
                  seeding=s.is_seeding, downloaded=s.total_done)
    st["dht_nodes"] = ses.status().dht_nodes
    tmp = status_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(st))
    tmp.replace(status_path)
    ses.pop_alerts()
    time.sleep(0.5)
