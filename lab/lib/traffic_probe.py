"""Traffic for the enforce benchmark, run inside a lab namespace; prints one JSON line.

  traffic_probe.py connections HOST PORT N   N HTTP GETs, each on a new TCP connection
                                             (`ok`: answered)
  traffic_probe.py dns SERVER NAME N         N DNS queries, each from a new UDP socket (port)
  traffic_probe.py dns-parallel SERVER NAME N K   the same, K outstanding at a time
  traffic_probe.py flood SRC DST N [PORT]    N small UDP datagrams, each of a new flow
                                             (another source port, then the next of 8
                                             destination ports from PORT, until they wrap), sent
                                             as fast as a raw socket allows

The first two measure what each new flow costs (its first packets wait for a verdict); the
flood is for the daemon's own rate.
"""

import json
import random
import socket
import struct
import sys
import time


def connections(host, port, n):
    req = f"GET /small HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    t = time.perf_counter()
    ok = 0
    for _ in range(n):
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(req)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            ok += data.startswith(b"HTTP/")  # any answer: the connection went through
    dt = time.perf_counter() - t
    return {"requests": n, "ok": ok, "seconds": round(dt, 3), "per_second": round(n / dt, 1)}


def dns_query(name, qid):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", 1, 1)


def dns(server, name, n):
    t = time.perf_counter()
    answered = 0
    for i in range(n):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            qid = random.randrange(65536)
            s.sendto(dns_query(name, qid), (server, 53))
            try:
                r, _ = s.recvfrom(1500)
                answered += len(r) >= 12 and struct.unpack("!H", r[:2])[0] == qid
            except socket.timeout:
                pass
    dt = time.perf_counter() - t
    return {"queries": n, "answered": answered, "seconds": round(dt, 3),
            "per_second": round(n / dt, 1)}


def dns_parallel(server, name, n, window):
    """N queries, up to `window` outstanding, each from a new socket: queries per second when
    waiting for one answer does not pace the next."""
    import selectors
    sel = selectors.DefaultSelector()
    sent = answered = 0
    t = time.perf_counter()
    deadline = t + 60
    while (sent < n or sel.get_map()) and time.perf_counter() < deadline:
        while sent < n and len(sel.get_map()) < window:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            qid = random.randrange(65536)
            s.sendto(dns_query(name, qid), (server, 53))
            sel.register(s, selectors.EVENT_READ, (qid, time.perf_counter()))
            sent += 1
        for key, _ in sel.select(timeout=0.5):
            qid, _ = key.data
            try:
                r = key.fileobj.recv(1500)
                answered += len(r) >= 12 and struct.unpack("!H", r[:2])[0] == qid
            except OSError:
                pass
            sel.unregister(key.fileobj)
            key.fileobj.close()
        now = time.perf_counter()
        for key in list(sel.get_map().values()):
            if now - key.data[1] > 2:  # lost: give up on it
                sel.unregister(key.fileobj)
                key.fileobj.close()
    dt = time.perf_counter() - t
    return {"queries": n, "answered": answered, "window": window, "seconds": round(dt, 3),
            "per_second": round(n / dt, 1)}


def checksum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def flood(src, dst, n, dport=9):
    """Destination ports `dport` to `dport` + 7, each with source ports 1024-65535: up to
    516 096 flows."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    saddr, daddr = socket.inet_aton(src), socket.inet_aton(dst)
    payload = bytes(random.randrange(256) for _ in range(32))
    frames = []
    for port in range(dport, dport + 8):
        for sport in range(1024, 65536):
            if len(frames) == n:
                break
            udp = struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, saddr, daddr)
            ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
            frames.append(ip + udp)
    t = time.perf_counter()
    sent = 0
    while sent < n:
        for f in frames[: n - sent]:
            s.sendto(f, (dst, 0))
        sent += min(len(frames), n - sent)
    dt = time.perf_counter() - t
    return {"sent": n, "flows": min(n, len(frames)), "seconds": round(dt, 3),
            "per_second": round(n / dt, 1)}


def main():
    what = sys.argv[1]
    if what == "connections":
        r = connections(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif what == "dns":
        r = dns(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif what == "dns-parallel":
        r = dns_parallel(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif what == "flood":
        r = flood(sys.argv[2], sys.argv[3], int(sys.argv[4]), *(int(x) for x in sys.argv[5:6]))
    else:
        sys.exit(__doc__)
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
