#!/usr/bin/env python3
"""A flood on the SFU's WebRTC ports while browsers are in the session (browser check o, and
bench/robustness/sfu_flood.sh for the long run with figures).

Two kinds of attacker, mixed round-robin at --pps datagrams per second for --seconds:

- Strangers (127.0.0.2 and up, one source port each): random bytes, STUN Binding requests for a
  made-up USERNAME, STUN with no USERNAME, RTP- and RTCP-looking packets, DTLS ClientHello-looking
  records. No leg knows them: the router drops them as unknown sources.
- An on-path attacker (raw IPv4 with the browser's own address and port as the source, so the
  datagrams arrive on the legs' nominated 5-tuples): first it listens on `lo` (AF_PACKET) for
  --capture-seconds and keeps what the browsers sent the server; then it replays those SRTP/SRTCP
  packets (the replay window must refuse them), sends SRTP/SRTCP with the captured SSRCs and
  random bytes (authentication must fail), epoch-0 DTLS handshake records of random bytes into
  the established associations (DTLS discards them: the handshake is over and they carry no
  valid record; the legs must survive them), and ICE checks with a captured USERNAME and a
  forged MESSAGE-INTEGRITY (dropped unanswered by the ICE agent).

Needs root (raw and packet sockets), so run it inside the test's network namespace. Standard
library only. Prints one JSON object: what was sent, by kind.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import time

rng = random.Random(7)
ETH_P_ALL = 0x0003


def stun_binding(username=None, integrity=True):
    """A Binding request (RFC 8489 §5) with an optional USERNAME and a MESSAGE-INTEGRITY of random
    bytes (the attacker does not know the password)."""
    attrs = b""
    if username is not None:
        u = username.encode()
        attrs += struct.pack("!HH", 0x0006, len(u)) + u + b"\0" * (-len(u) % 4)
    attrs += struct.pack("!HHI", 0x0024, 4, rng.getrandbits(32))  # PRIORITY
    if integrity:
        attrs += struct.pack("!HH", 0x0008, 20) + os.urandom(20)
    return struct.pack("!HHI", 0x0001, len(attrs), 0x2112A442) + os.urandom(12) + attrs


def rtp_like(ssrc=None, pt=111, size=160):
    ssrc = rng.getrandbits(32) if ssrc is None else ssrc
    hdr = struct.pack("!BBHII", 0x80, pt, rng.getrandbits(16), rng.getrandbits(32), ssrc)
    return hdr + os.urandom(size)


def rtcp_like(ssrc=None):
    # A receiver report with 31 report blocks (the largest count the header can say), then an
    # SRTCP-sized tail of random bytes.
    ssrc = rng.getrandbits(32) if ssrc is None else ssrc
    blocks = os.urandom(24 * 31)
    return struct.pack("!BBHI", 0x80 | 31, 201, (4 + len(blocks)) // 4, ssrc) + blocks + os.urandom(14)


def dtls_like():
    # A handshake record (content type 22, DTLS 1.2) of random bytes: looks like a ClientHello
    # to a demultiplexer (RFC 7983: first byte 20..63).
    body = os.urandom(rng.randint(40, 300))
    return struct.pack("!BHHHIH", 22, 0xFEFD, 0, 0, rng.getrandbits(32), len(body)) + body


def stranger_packets():
    return [
        lambda: os.urandom(rng.randint(1, 1200)),
        lambda: stun_binding("%08x:%04x" % (rng.getrandbits(32), rng.getrandbits(16))),
        lambda: stun_binding(None, integrity=False),
        lambda: rtp_like(size=rng.randint(20, 1100)),
        lambda: rtcp_like(),
        dtls_like,
    ]


def ipv4_udp(src, sport, dst, dport, payload):
    """An IPv4 header (checksum and id filled in by the kernel for IP_HDRINCL) and a UDP header
    with no checksum (optional over IPv4, RFC 768)."""
    total = 20 + 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def capture(ports, seconds, most, limit=400):
    """What 127.0.0.1 sent to the SFU ports on lo: {(src_port, dst_port): {...}}. At least
    `seconds`, then until every flow has shown an ICE check (browsers send consent checks every
    few seconds, RFC 7675), at most `most` seconds."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind(("lo", 0))
    s.settimeout(0.05)
    flows = {}
    t0 = time.monotonic()
    while True:
        took = time.monotonic() - t0
        if took >= most or (took >= seconds and flows and all(f["users"] for f in flows.values())):
            break
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:  # lo shows each frame twice: keep the incoming copy
            continue
        if len(frame) < 14 + 28 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != socket.IPPROTO_UDP or ip[12:16] != socket.inet_aton("127.0.0.1"):
            continue
        sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
        if dport not in ports:
            continue
        payload = bytes(ip[ihl + 8:])
        f = flows.setdefault((sport, dport), {"srtp": [], "srtcp": [], "users": set(), "ssrcs": set()})
        if not payload:
            continue
        b0 = payload[0]
        if b0 <= 3 and len(payload) >= 20:
            # A check: keep its USERNAME (attribute 0x0006).
            at = 20
            while at + 4 <= len(payload):
                t, n = struct.unpack("!HH", payload[at:at + 4])
                if t == 0x0006:
                    f["users"].add(payload[at + 4:at + 4 + n].decode("ascii", "replace"))
                at += 4 + n + (-n % 4)
        elif 128 <= b0 <= 191 and len(payload) >= 12:
            rtcp = 192 <= payload[1] <= 223
            key = "srtcp" if rtcp else "srtp"
            if len(f[key]) < limit:
                f[key].append(payload)
            if not rtcp:
                f["ssrcs"].add(struct.unpack("!I", payload[8:12])[0])
    s.close()
    return flows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, action="append", required=True, help="an SFU port (repeat)")
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--pps", type=int, default=5000, help="datagrams per second, all kinds together")
    ap.add_argument("--strangers", type=int, default=64, help="stranger sources (127.0.0.2 and up)")
    ap.add_argument("--capture-seconds", type=float, default=2, help="listen at least this long")
    ap.add_argument("--capture-max", type=float, default=15, help="and at most this long")
    ap.add_argument("--no-spoof", action="store_true", help="strangers only")
    a = ap.parse_args()

    flows = {} if a.no_spoof else capture(set(a.port), a.capture_seconds, a.capture_max)
    # The spoofer's repertoire by kind, each a list of (sport, dport, packet factory); the kinds
    # take turns, and within a kind its flows and packets do.
    by_kind = {}
    for (sport, dport), f in sorted(flows.items()):
        # Replays: each captured packet again, as captured.
        for p in f["srtp"]:
            by_kind.setdefault("replayed_srtp", []).append((sport, dport, (lambda p=p: p)))
        for p in f["srtcp"]:
            by_kind.setdefault("replayed_srtcp", []).append((sport, dport, (lambda p=p: p)))
        for ssrc in sorted(f["ssrcs"]):
            by_kind.setdefault("forged_srtp", []).append(
                (sport, dport, (lambda s=ssrc: rtp_like(s, size=rng.randint(40, 1000)))))
        for ssrc in sorted(f["ssrcs"]) or [rng.getrandbits(32)]:
            if f["srtp"] or f["srtcp"]:
                by_kind.setdefault("forged_srtcp", []).append((sport, dport, (lambda s=ssrc: rtcp_like(s))))
        if f["srtp"] or f["srtcp"]:
            by_kind.setdefault("dtls_junk", []).append((sport, dport, dtls_like))
        for u in sorted(f["users"]):
            by_kind.setdefault("forged_check", []).append((sport, dport, (lambda u=u: stun_binding(u))))
    spoofed = sorted(by_kind.items())
    raw = None
    if spoofed:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)

    socks = []
    for i in range(a.strangers):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.bind(("127.0.%d.%d" % (i // 250, 2 + i % 250), 0))
        s.setblocking(False)
        socks.append(s)
    kinds = stranger_packets()
    names = ["stranger_random", "stranger_stun_user", "stranger_stun_bare", "stranger_rtp", "stranger_rtcp",
             "stranger_dtls"]
    sent = {n: 0 for n in names}
    for kind, _ in spoofed:
        sent[kind] = 0
    errors = 0
    tick = 0.01
    per_tick = max(1, int(a.pps * tick))
    print("flooding", file=sys.stderr, flush=True)  # the capture is over (browser check o starts its window)
    t0 = time.monotonic()
    n = m = 0  # all datagrams; the strangers' (so they use every source and port)
    while True:
        now = time.monotonic()
        if now - t0 >= a.seconds:
            break
        for _ in range(per_tick):
            try:
                # Every other datagram is the on-path attacker's when there is one.
                if spoofed and n % 2:
                    turn = n // 2
                    kind, items = spoofed[turn % len(spoofed)]
                    sport, dport, make = items[(turn // len(spoofed)) % len(items)]
                    raw.sendto(ipv4_udp("127.0.0.1", sport, a.server, dport, make()), (a.server, 0))
                    sent[kind] += 1
                else:
                    k = m % len(kinds)
                    socks[m % len(socks)].sendto(kinds[k](), (a.server, a.port[m % len(a.port)]))
                    m += 1
                    sent[names[k]] += 1
            except (BlockingIOError, OSError):
                errors += 1
            n += 1
        # Pace to --pps: sleep to the next tick boundary.
        nxt = t0 + (int((time.monotonic() - t0) / tick) + 1) * tick
        time.sleep(max(0.0, nxt - time.monotonic()))
    wall = time.monotonic() - t0
    for s in socks:
        s.close()
    if raw:
        raw.close()
    total = sum(sent.values())
    print(json.dumps({
        "seconds": round(wall, 2), "sent": total, "pps": round(total / wall), "send_errors": errors,
        "by_kind": sent,
        "captured_flows": [{"from_port": sp, "to_port": dp, "srtp": len(f["srtp"]), "srtcp": len(f["srtcp"]),
                            "ssrcs": len(f["ssrcs"]), "usernames": len(f["users"])}
                           for (sp, dp), f in sorted(flows.items())],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
