"""Shrinks a lab capture for keeping: after the first 16 packets of each flow direction, a
packet with more than 1,000 bytes of IP payload keeps only its first 200 captured bytes. The
record's original length is kept, so byte counts (IP total length) do not change; detectors
see the start of every flow whole (the same rule as ../shared/corpus/lab)."""

import struct
from collections import defaultdict
from pathlib import Path

KEEP_WHOLE = 16
CUT_ABOVE = 1000
CUT_TO = 200


def shrink(src, dst):
    data = Path(src).read_bytes()
    if data[:4] not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        raise ValueError(f"{src}: expected a little-endian classic pcap")
    out = bytearray(data[:24])
    seen = defaultdict(int)
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        keep = len(frame)
        if len(frame) >= 34 and frame[12:14] == b"\x08\x00":
            ip = frame[14:]
            ihl = (ip[0] & 15) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            key = (ip[9], ip[12:16], ip[16:20], ip[ihl:ihl + 4])
            seen[key] += 1
            if seen[key] > KEEP_WHOLE and total - ihl > CUT_ABOVE:
                keep = min(len(frame), CUT_TO)
        out += struct.pack("<IIII", sec, frac, keep, orig)
        out += frame[:keep]
    Path(dst).write_bytes(bytes(out))
    return len(data), len(out)
