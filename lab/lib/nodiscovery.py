"""A copy of a labelled capture without its discovery flows (trackers, DHT, LSD), so that the
MSE/PE detector is measured on the handshake's shape and on what peer connections alone
reveal — not on endpoints announced by discovery."""

import csv
import struct
from pathlib import Path

from .labels import ip_key, parse_ip

DISCOVERY = ("tracker-http", "tracker-udp", "lsd", "dht")


def _is_discovery(label):
    if not label.startswith("bittorrent:"):
        return False
    parts = label.split(":", 1)[1].split("+")
    return any(p in DISCOVERY for p in parts)


def _key(proto, a, b):
    return (proto,) + tuple(sorted([a, b], key=lambda e: (ip_key(e[0]), e[1])))


def write(src_prefix, dst_prefix):
    """Writes DST.pcap and DST.flows.csv (and copies DST.labels.json) from SRC's."""
    src_prefix, dst_prefix = str(src_prefix), str(dst_prefix)
    drop, rows = set(), []
    with open(f"{src_prefix}.flows.csv") as f:
        r = csv.reader(f)
        header = next(r)
        for row in r:
            proto, ip_a, port_a, ip_b, port_b, label = row[0], row[1], int(row[2]), row[3], int(row[4]), row[7]
            if _is_discovery(label):
                drop.add(_key(proto, (ip_a, port_a), (ip_b, port_b)))
            else:
                rows.append(row)
    data = Path(f"{src_prefix}.pcap").read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out = bytearray(data[:24])
    off, kept, dropped = 24, 0, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        rec = data[off:off + 16 + incl]
        frame = rec[16:]
        off += 16 + incl
        k = None
        if len(frame) >= 38 and frame[12:14] in (b"\x08\x00", b"\x86\xdd"):
            src, dst, num, l4, frag = parse_ip(frame[14:])
            proto = {6: "tcp", 17: "udp"}.get(num)
            if proto and len(l4) >= 4 and not (frag and frag[1]):
                sp, dp = struct.unpack(">HH", l4[:4])
                k = _key(proto, (src, sp), (dst, dp))
        if k in drop:
            dropped += 1
            continue
        out += rec
        kept += 1
    Path(f"{dst_prefix}.pcap").write_bytes(bytes(out))
    with open(f"{dst_prefix}.flows.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    Path(f"{dst_prefix}.labels.json").write_text(Path(f"{src_prefix}.labels.json").read_text())
    return kept, dropped
