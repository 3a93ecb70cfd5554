#!/usr/bin/env python3
"""Runs nDPI (through nfstream, which bundles it) on a capture and writes its verdict per
flow as JSON lines, for `swarmwall eval --peer-flows`.

usage: lab/.venv/bin/python lab/ndpi_flows.py CAPTURE OUT.jsonl

The first line is {"meta": {...}}: tool versions, packets, bytes and the seconds nfstream
took (wall clock, one process, startup included). Then one line per flow:
{"proto", "src", "dst", "bittorrent", "app", "guessed", "packets", "bytes"}.
nDPI's options are nfstream's defaults except: all packets dissected per flow (n_dissections
255, the most it allows), IP-layer byte accounting, snapshot length 65535, no active timeout
within a lab capture (idle timeout 120 s, like swarmwall's UDP default).
"""

import json
import sys
import time


def main():
    pcap, out = sys.argv[1], sys.argv[2]
    from nfstream import NFStreamer, __version__
    try:
        from _lib_engine import ffi, lib
        ndpi = ffi.string(lib.engine_lib_ndpi_version()).decode()
    except Exception:  # the version is informative only
        ndpi = "unknown"
    started = time.perf_counter()
    flows = []
    packets = 0
    nbytes = 0
    for f in NFStreamer(source=pcap, n_dissections=255, accounting_mode=1, snapshot_length=65535,
                        idle_timeout=120, active_timeout=86400, statistical_analysis=False):
        if f.protocol not in (6, 17):
            continue
        app = f.application_name or ""
        fmt = (lambda ip, port: f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
        flows.append({
            "proto": "tcp" if f.protocol == 6 else "udp",
            "src": fmt(f.src_ip, f.src_port), "dst": fmt(f.dst_ip, f.dst_port),
            "bittorrent": "BitTorrent" in app.split("."),
            "app": app, "guessed": bool(f.application_is_guessed),
            "packets": f.bidirectional_packets, "bytes": f.bidirectional_bytes,
        })
        packets += f.bidirectional_packets
        nbytes += f.bidirectional_bytes
    seconds = time.perf_counter() - started
    with open(out, "w") as fh:
        meta = {"tool": f"nDPI {ndpi} via nfstream {__version__}", "seconds": round(seconds, 4),
                "flows": len(flows), "packets": packets, "bytes": nbytes}
        fh.write(json.dumps({"meta": meta}) + "\n")
        for f in flows:
            fh.write(json.dumps(f) + "\n")


if __name__ == "__main__":
    main()
