"""A copy of a labelled capture without its discovery flows (trackers, DHT, LSD), so that the
MSE/PE detector is measured on the handshake's shape and on what peer connections alone
reveal — not on endpoints announced by discovery."""

import csv
import struct
from pathlib import Path

DISCOVERY = ("tracker-http", "tracker-udp", "lsd", "dht")


def _is_discovery(label):
    if not label.startswith("bittorrent:"):
        return False
    parts = label.split(":", 1)[1].split("+")
    return any(p in DISCOVERY for p in parts)


def _key(proto, a, b):
    return (proto,) + tuple(sorted([a, b], key=lambda e: (tuple(map(int, e[0].split("."))), e[1])))


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
        if len(frame) >= 38 and frame[12:14] == b"\x08\x00":
            ip = frame[14:]
            ihl = (ip[0] & 15) * 4
            proto = {6: "tcp", 17: "udp"}.get(ip[9])
            if proto and len(ip) >= ihl + 4:
                sp, dp = struct.unpack(">HH", ip[ihl:ihl + 4])
                k = _key(proto, (".".join(map(str, ip[12:16])), sp), (".".join(map(str, ip[16:20])), dp))
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
