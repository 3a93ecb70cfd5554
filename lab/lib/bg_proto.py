#!/usr/bin/env python3
"""Small real implementations of non-BitTorrent protocols for the lab's background traffic:
NTP (RFC 5905 client/server packets), STUN (RFC 5389 binding), SIP (RFC 3261 OPTIONS/INVITE/
ACK/BYE) with RTP (RFC 3550, PCMU, 20 ms), and QUIC (RFC 9000, via aioquic) with a stream
echo. Each mode is bounded in time.

usage: bg_proto.py MODE [ARGS]
  ntp-server IP | ntp-client SERVER COUNT
  stun-server IP | stun-client SERVER COUNT
  sip-server IP | sip-call SERVER LOCAL_IP SECONDS
  rtp-recv IP PORT SECONDS
  quic-server IP PORT CERT KEY | quic-client SERVER PORT BYTES
  socks-get PROXY_HOST PROXY_PORT USER PASS TARGET PORT PATH
"""

import os
import socket
import struct
import sys
import time


def udp_server(ip, port, reply, lifetime=600):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    s.settimeout(1)
    end = time.time() + lifetime
    while time.time() < end:
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        out = reply(data, peer)
        if out:
            s.sendto(out, peer)


def ntp_reply(data, peer):
    if len(data) < 48:
        return None
    now = time.time() + 2208988800
    sec, frac = int(now), int((now % 1) * 2**32)
    # LI 0, version 4, mode 4 (server), stratum 2, poll, precision
    head = struct.pack(">BBbb", 0x24, 2, data[2], -20)
    body = struct.pack(">II4s", 0, 0, b"LAB\0")
    ts = struct.pack(">II", sec, frac)
    return head + body + ts + data[40:48] + ts + ts


def ntp_client(server, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    for _ in range(int(count)):
        now = time.time() + 2208988800
        pkt = struct.pack(">BBbb", 0x23, 0, 6, -20) + b"\0" * 36 + struct.pack(">II", int(now), int((now % 1) * 2**32))
        s.sendto(pkt, (server, 123))
        try:
            s.recvfrom(1024)
        except socket.timeout:
            pass
        time.sleep(0.2)


MAGIC = 0x2112A442


def stun_reply(data, peer):
    if len(data) < 20 or struct.unpack(">I", data[4:8])[0] != MAGIC:
        return None
    tid = data[8:20]
    port = peer[1] ^ (MAGIC >> 16)
    addr = struct.unpack(">I", socket.inet_aton(peer[0]))[0] ^ MAGIC
    attr = struct.pack(">HHBBHI", 0x0020, 8, 0, 1, port, addr)  # XOR-MAPPED-ADDRESS
    return struct.pack(">HHI", 0x0101, len(attr), MAGIC) + tid + attr


def stun_client(server, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    for _ in range(int(count)):
        s.sendto(struct.pack(">HHI", 0x0001, 0, MAGIC) + os.urandom(12), (server, 3478))
        try:
            s.recvfrom(1024)
        except socket.timeout:
            pass
        time.sleep(0.3)


def sip_reply(data, peer):
    text = data.decode("utf-8", "replace")
    first = text.split("\r\n", 1)[0]
    method = first.split(" ", 1)[0]
    if method in ("ACK",) or first.startswith("SIP/2.0"):
        return None
    hdrs = [l for l in text.split("\r\n") if l.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    body = ""
    extra = []
    if method == "INVITE":
        body = ("v=0\r\no=lab 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
                "m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").format(ip=SERVER_IP)
        extra = ["Content-Type: application/sdp", f"Contact: <sip:lab@{SERVER_IP}>"]
    msg = "\r\n".join(["SIP/2.0 200 OK"] + hdrs + extra + [f"Content-Length: {len(body)}", "", body])
    return msg.encode()


def sip_call(server, local_ip, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local_ip, 5060))
    s.settimeout(2)
    call = os.urandom(8).hex()

    def req(method, cseq, body=""):
        lines = [f"{method} sip:lab@{server} SIP/2.0",
                 f"Via: SIP/2.0/UDP {local_ip}:5060;branch=z9hG4bK{os.urandom(6).hex()}",
                 "Max-Forwards: 70", f"From: <sip:caller@{local_ip}>;tag={call[:6]}",
                 f"To: <sip:lab@{server}>", f"Call-ID: {call}@{local_ip}", f"CSeq: {cseq} {method}",
                 f"Contact: <sip:caller@{local_ip}>"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines += [f"Content-Length: {len(body)}", "", body]
        s.sendto("\r\n".join(lines).encode(), (server, 5060))

    sdp = (f"v=0\r\no=caller 1 1 IN IP4 {local_ip}\r\ns=-\r\nc=IN IP4 {local_ip}\r\nt=0 0\r\n"
           "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    req("INVITE", 1, sdp)
    try:
        s.recvfrom(4096)
    except socket.timeout:
        pass
    req("ACK", 1)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((local_ip, 40000))
    ssrc = struct.unpack(">I", os.urandom(4))[0]
    seq, ts = 1000, 160000
    end = time.time() + float(seconds)
    while time.time() < end:
        rtp.sendto(struct.pack(">BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + os.urandom(160),
                   (server, 40002))
        seq += 1
        ts += 160
        time.sleep(0.02)
    req("BYE", 2)
    try:
        s.recvfrom(4096)
    except socket.timeout:
        pass


def rtp_recv(ip, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, int(port)))
    s.settimeout(1)
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            s.recvfrom(2048)
        except socket.timeout:
            pass


def quic_server(ip, port, cert, key):
    import asyncio

    from aioquic.asyncio import serve
    from aioquic.quic.configuration import QuicConfiguration

    def handler(reader, writer):
        async def echo():
            data = await reader.read()
            writer.write(data)
            writer.write_eof()
        asyncio.ensure_future(echo())

    async def main():
        cfg = QuicConfiguration(is_client=False, alpn_protocols=["swl-echo"])
        cfg.load_cert_chain(cert, key)
        await serve(ip, int(port), configuration=cfg, stream_handler=handler)
        await asyncio.sleep(600)

    asyncio.run(main())


def quic_client(server, port, nbytes):
    import asyncio
    import ssl

    from aioquic.asyncio import connect
    from aioquic.quic.configuration import QuicConfiguration

    async def main():
        cfg = QuicConfiguration(is_client=True, alpn_protocols=["swl-echo"], verify_mode=ssl.CERT_NONE)
        async with connect(server, int(port), configuration=cfg) as conn:
            reader, writer = await conn.create_stream()
            writer.write(os.urandom(int(nbytes)))
            writer.write_eof()
            got = await asyncio.wait_for(reader.read(), 20)
            print(f"quic echo {len(got)} bytes")

    asyncio.run(asyncio.wait_for(main(), 30))


def socks_get(proxy_host, proxy_port, user, password, target, port, path):
    """An HTTP GET through a SOCKS5 proxy with username/password authentication (RFC 1928,
    RFC 1929) - the way a pluggable-transport client (obfs4proxy) takes its arguments."""
    s = socket.create_connection((proxy_host, int(proxy_port)), timeout=20)
    s.sendall(b"\x05\x01\x02")
    if s.recv(2) != b"\x05\x02":
        raise SystemExit("socks: no user/password method")
    u, p = user.encode(), password.encode() or b"\0"
    s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
    if s.recv(2)[1:] != b"\x00":
        raise SystemExit("socks: authentication refused")
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(target) + struct.pack(">H", int(port)))
    reply = s.recv(10)
    if len(reply) < 2 or reply[1] != 0:
        raise SystemExit(f"socks: connect refused {reply!r}")
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: {target}\r\n\r\n".encode())
    got = 0
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    print(f"socks get {got} bytes")


SERVER_IP = "0.0.0.0"

if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "ntp-server":
        udp_server(args[0], 123, ntp_reply)
    elif mode == "ntp-client":
        ntp_client(*args)
    elif mode == "stun-server":
        udp_server(args[0], 3478, stun_reply)
    elif mode == "stun-client":
        stun_client(*args)
    elif mode == "sip-server":
        SERVER_IP = args[0]
        udp_server(args[0], 5060, sip_reply)
    elif mode == "sip-call":
        sip_call(*args)
    elif mode == "rtp-recv":
        rtp_recv(*args)
    elif mode == "quic-server":
        quic_server(*args)
    elif mode == "quic-client":
        quic_client(*args)
    elif mode == "socks-get":
        socks_get(*args)
    else:
        sys.exit(f"unknown mode {mode}")
