#!/usr/bin/env python3
"""Hostile media against every RTP port a running Switchboard has open (its calls' legs).

Finds the server's UDP sockets in the media port range (from /proc/net/udp and the PID's file
descriptors) and sprays each, from 127.0.0.2 and up (never 127.0.0.1, where the real far ends
are), with what a stranger or a broken peer sends: RTP of the call's payload type under a new SSRC
(in sequence, as a hijacker would), RTCP bombs (compound packets of 31 report blocks, and BYEs
for random SSRCs), STUN binding requests, and random bytes. The latching rules (docs:
README "Media") say none of it may be taken: it must be dropped and counted
(switchboard_rtp_dropped_total) while the calls keep their audio. Prints one JSON object.
Standard library only.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import time

rng = random.Random(11)


def server_udp_ports(pid, lo, hi):
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for line in open("/proc/net/udp").readlines()[1:]:
        f = line.split()
        port = int(f[1].split(":")[1], 16)
        if f[9] in inodes and lo <= port <= hi:
            ports.add(port)
    return sorted(ports)


def rtp(pt, seq, ts, ssrc, payload):
    return struct.pack("!BBHII", 0x80, pt & 0x7F, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def rtcp_bomb():
    # SR with 31 report blocks (the most RC allows), then a BYE: ~800 bytes of compound RTCP.
    ssrc = rng.getrandbits(32)
    blocks = b"".join(struct.pack("!IIIIII", rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32),
                                  rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32)) for _ in range(31))
    sr = struct.pack("!BBHI", 0x80 | 31, 200, (28 + len(blocks)) // 4 - 1, ssrc) + os.urandom(20) + blocks
    bye = struct.pack("!BBHI", 0x81, 203, 1, rng.getrandbits(32))
    return sr + bye


def stun_binding():
    return struct.pack("!HHI", 0x0001, 0, 0x2112A442) + os.urandom(12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--min-port", type=int, default=20000)
    ap.add_argument("--max-port", type=int, default=29999)
    ap.add_argument("--per-port", type=int, default=400, help="packets of each kind per port")
    a = ap.parse_args()
    ports = server_udp_ports(a.pid, a.min_port, a.max_port)
    socks = []
    for i in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.3.%d" % (2 + i), 0))
        s.setblocking(False)
        socks.append(s)
    kinds = {"stranger_rtp": 0, "rtcp_bomb": 0, "stun": 0, "garbage": 0}
    t0 = time.monotonic()
    for port in ports:
        ssrc = rng.getrandbits(32)
        seq = rng.getrandbits(16)
        ts = rng.getrandbits(32)
        for k in range(a.per_port):
            s = socks[k % len(socks)]
            pkts = [("stranger_rtp", rtp(0, seq + k, ts + 160 * k, ssrc, os.urandom(160))),
                    ("rtcp_bomb", rtcp_bomb()), ("stun", stun_binding()),
                    ("garbage", os.urandom(rng.randint(1, 1200)))]
            for kind, p in pkts:
                try:
                    s.sendto(p, ("127.0.0.1", port))
                    kinds[kind] += 1
                except (BlockingIOError, OSError):
                    time.sleep(0.001)
    dt = time.monotonic() - t0
    time.sleep(0.5)
    replies = 0
    for s in socks:
        try:
            while True:
                replies += len(s.recv(65536))
        except (BlockingIOError, OSError):
            pass
    print(json.dumps({"ports": len(ports), "sent": kinds, "seconds": round(dt, 2),
                      "rate_per_s": int(sum(kinds.values()) / dt) if dt else 0, "reply_bytes": replies}))


if __name__ == "__main__":
    main()
