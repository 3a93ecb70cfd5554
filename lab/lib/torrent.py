"""Torrent files for the lab: content, .torrent via mktorrent, info-hashes, magnet links.

A minimal bencode decoder lives here so the lab computes info-hashes on its own, without
swarmwall (the lab produces ground truth and must not depend on what it checks).
"""

import hashlib
import random
import subprocess
from pathlib import Path


def bdecode(b, i=0):
    """Decodes one bencoded value at b[i:]; returns (value, end). Dicts keep raw spans in
    a '__raw__' mapping: {key: (start, end)}."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out, raw = {}, {}
        while b[i:i + 1] != b"e":
            k, i = bdecode(b, i)
            start = i
            v, i = bdecode(b, i)
            out[k] = v
            raw[k] = (start, i)
        out["__raw__"] = raw
        return out, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def info_hash(torrent_bytes):
    """SHA-1 of the bencoded info dictionary, as 40 lower-case hex digits."""
    d, _ = bdecode(torrent_bytes)
    start, end = d["__raw__"][b"info"]
    return hashlib.sha1(torrent_bytes[start:end]).hexdigest()


def make_content(path, size, seed):
    """Writes `size` pseudo-random bytes (deterministic for a seed)."""
    rnd = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rnd.randbytes(n))
            left -= n
    return path


def make_torrent(content, out, announce=None, piece_exp=16):
    """Runs mktorrent; returns (torrent bytes, info-hash)."""
    out = Path(out)
    out.unlink(missing_ok=True)
    argv = ["mktorrent", "-l", str(piece_exp), "-o", str(out)]
    for url in announce or []:
        argv += ["-a", url]
    argv.append(str(content))
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    data = out.read_bytes()
    return data, info_hash(data)


def info_hashes(torrent_bytes):
    """{"v1": SHA-1 hex or None, "v2": SHA-256 hex or None, "v2_truncated": its first 20
    bytes hex (what v2 handshakes and announces carry), "wire": the 20-byte hashes a client
    may put on the wire} of the info dictionary, by its keys: v1 has "pieces", v2 has
    "meta version" 2 and "file tree" (a hybrid has both)."""
    d, _ = bdecode(torrent_bytes)
    start, end = d["__raw__"][b"info"]
    info = d[b"info"]
    raw = torrent_bytes[start:end]
    v1 = hashlib.sha1(raw).hexdigest() if b"pieces" in info else None
    v2 = hashlib.sha256(raw).hexdigest() if info.get(b"meta version") == 2 else None
    out = {"v1": v1, "v2": v2, "v2_truncated": v2[:40] if v2 else None}
    out["wire"] = [h for h in (v1, out["v2_truncated"]) if h]
    return out


def make_torrent_v2(content, out, mode, announce=(), piece_exp=16):
    """A v2-only (`mode` "v2") or hybrid ("hybrid") torrent made by libtorrent; returns
    (torrent bytes, info_hashes()) and checks libtorrent's own hashes against ours."""
    out = Path(out)
    r = subprocess.run(["/usr/bin/python3", str(Path(__file__).with_name("lt_make_torrent.py")),
                        str(content), str(out), mode, str(1 << piece_exp), *announce],
                       check=True, capture_output=True, text=True, timeout=120)
    data = out.read_bytes()
    ih = info_hashes(data)
    lt_v1, lt_v2 = r.stdout.split()
    if (lt_v1 if lt_v1 != "-" else None) != ih["v1"] or (lt_v2 if lt_v2 != "-" else None) != ih["v2"]:
        raise RuntimeError(f"{out}: libtorrent says {r.stdout.strip()}, the lab computed {ih}")
    return data, ih


def magnet(ih, name=None, trackers=()):
    m = f"magnet:?xt=urn:btih:{ih}"
    if name:
        m += f"&dn={name}"
    for t in trackers:
        m += f"&tr={t}"
    return m


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
