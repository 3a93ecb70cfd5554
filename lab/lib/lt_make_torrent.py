#!/usr/bin/python3
"""Creates a BitTorrent v2-only or hybrid (v1 + v2) .torrent with libtorrent-rasterbar
(python3-libtorrent 2.0; mktorrent writes v1 only).

usage: lt_make_torrent.py CONTENT OUT v2|hybrid PIECE_BYTES [TRACKER_URL...]
Each tracker URL is its own tier.
"""

import sys
from pathlib import Path

import libtorrent as lt

content, out, mode, piece = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
fs = lt.file_storage()
lt.add_files(fs, str(content))
flags = {"v2": lt.create_torrent.v2_only, "hybrid": 0}[mode]
t = lt.create_torrent(fs, piece, flags=flags)
for tier, url in enumerate(sys.argv[5:]):
    t.add_tracker(url, tier)
t.set_creator("swarmwall lab")
lt.set_piece_hashes(t, str(content.parent))
out.write_bytes(lt.bencode(t.generate()))
ih = lt.torrent_info(str(out)).info_hashes()
print(str(ih.v1) if ih.has_v1() else "-", str(ih.v2) if ih.has_v2() else "-")
