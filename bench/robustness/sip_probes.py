#!/usr/bin/env python3
"""Hand-made hostile SIP probes against every SIP port of a running Switchboard.

Reads the ports from the server's --ready-file ({"sip":[{"udp":…,"tcp":…,"tls":…},…]}) and,
per shard, sends what scanners and broken or malicious peers send. Switchboard is a UAC only: it
must answer none of it (nothing reveals a SIP stack), and close every stream it cannot use within
its documented deadlines (docs/robustness.md). Prints one JSON object: per probe what was sent,
what came back (bytes: must be 0) and, for held-open streams, how long the server kept them.

Attack traffic comes from 127.0.0.2 and up, never 127.0.0.1, which the load generator's real
calls use: the per-source rate limit must not be what protects them.

Standard library only (Debian's python3).
"""
import argparse
import json
import os
import random
import socket
import ssl
import sys
import threading
import time

ATTACKER = "127.0.0.9"  # one-source floods and probes
rng = random.Random(7)


def sip_request(method="OPTIONS", uri="sip:100@127.0.0.1", extra="", body="", via_count=1, cl=None):
    branch = "z9hG4bK" + "%08x" % rng.getrandbits(32)
    vias = "".join("Via: SIP/2.0/UDP %s:5060;branch=%s%d\r\n" % (ATTACKER, branch, i) for i in range(via_count))
    length = len(body) if cl is None else cl
    return (
        "%s %s SIP/2.0\r\n%sMax-Forwards: 70\r\nTo: <%s>\r\nFrom: <sip:scanner@%s>;tag=%08x\r\n"
        "Call-ID: %08x@%s\r\nCSeq: 1 %s\r\nContact: <sip:scanner@%s>\r\nUser-Agent: friendly-scanner\r\n"
        "%sContent-Length: %s\r\n\r\n%s"
        % (method, uri, vias, uri, ATTACKER, rng.getrandbits(32), rng.getrandbits(32), ATTACKER, method, ATTACKER,
           extra, length, body)
    ).encode()


SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def udp_probe(port, payloads, wait=1.0, src=ATTACKER):
    """Sends each payload from one socket; returns bytes received within `wait` after the last."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    sent = 0
    for p in payloads:
        try:
            s.sendto(p, ("127.0.0.1", port))
            sent += 1
        except OSError:
            pass  # EMSGSIZE for what no UDP can carry: counted as not sent
    s.settimeout(wait)
    got = 0
    try:
        while True:
            got += len(s.recv(65536))
    except (socket.timeout, OSError):
        pass
    s.close()
    return {"sent": sent, "reply_bytes": got}


def udp_flood(port, count, sources, size=(20, 1400)):
    """`count` datagrams of random bytes (or SIP-looking junk) spread over `sources` addresses."""
    socks = []
    for i in range(sources):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.%d.%d" % (1 + i // 250, 2 + i % 250) if sources > 1 else ATTACKER, 0))
        s.setblocking(False)
        socks.append(s)
    junk = [os.urandom(rng.randint(*size)) for _ in range(64)]
    junk += [b"INVITE sip:x SIP/2.0\r\nVia: garbage\r\n\r\n", b"\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n"]
    sent = 0
    t0 = time.monotonic()
    for k in range(count):
        try:
            socks[k % sources].sendto(junk[k % len(junk)], ("127.0.0.1", port))
            sent += 1
        except BlockingIOError:
            time.sleep(0.0005)
        except OSError:
            pass
    dt = time.monotonic() - t0
    time.sleep(0.5)
    got = 0
    for s in socks:
        try:
            while True:
                got += len(s.recv(65536))
        except (BlockingIOError, OSError):
            pass
        s.close()
    return {"sent": sent, "sources": sources, "seconds": round(dt, 2), "rate_per_s": int(sent / dt) if dt else 0,
            "reply_bytes": got}


def hold_stream(port, first_bytes, limit, use_tls=False, handshake=True, src=ATTACKER):
    """Connects (TLS optionally), writes `first_bytes`, then waits until the server closes the
    stream or `limit` s pass. Returns how long it stayed open and what came back."""
    t0 = time.monotonic()
    raw = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
    s = raw
    try:
        if use_tls and handshake:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(raw, server_hostname="localhost")
        if first_bytes:
            s.sendall(first_bytes)
        s.settimeout(max(0.1, limit - (time.monotonic() - t0)))
        got = 0
        closed = False
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, ssl.SSLError, OSError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += len(chunk)
        return {"closed_by_server": closed, "open_seconds": round(time.monotonic() - t0, 1), "reply_bytes": got}
    except (ssl.SSLError, OSError) as e:
        return {"closed_by_server": True, "open_seconds": round(time.monotonic() - t0, 1), "reply_bytes": 0,
                "note": type(e).__name__}
    finally:
        try:
            s.close()
        except OSError:
            pass


def connection_flood(port, count, hold):
    """Opens `count` TCP connections from many source addresses and holds them `hold` s; returns
    how many connected and how many the server had closed by the end."""
    socks = []
    failed = 0
    for i in range(count):
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=2,
                                         source_address=("127.0.%d.%d" % (2 + i // 250, 2 + i % 250), 0))
            c.setblocking(False)
            socks.append(c)
        except OSError:
            failed += 1
    time.sleep(hold)
    closed = 0
    for c in socks:
        try:
            if c.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        c.close()
    return {"attempted": count, "connected": len(socks), "connect_failed": failed, "closed_by_server": closed,
            "held_seconds": hold}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready", required=True, help="the server's --ready-file")
    ap.add_argument("--flood", type=int, default=50000, help="datagrams per UDP flood")
    ap.add_argument("--hold-limit", type=float, default=45.0, help="give up waiting for a close after this")
    ap.add_argument("--conn-flood", type=int, default=1500, help="TCP connections in the connection flood")
    a = ap.parse_args()
    ready = json.load(open(a.ready))
    shards = ready["sip"]
    out = {"shards": len(shards), "probes": []}
    big_header = "X-Junk: " + "A" * 65000 + "\r\n"

    def rec(name, port, transport, r):
        r.update({"probe": name, "port": port, "transport": transport})
        out["probes"].append(r)
        print("%-28s %-4s %5d %s" % (name, transport, port, json.dumps({k: v for k, v in r.items()
              if k not in ("probe", "port", "transport")})), file=sys.stderr)

    held = []  # slow probes run side by side in threads

    def hold_in_thread(name, port, transport, *args, **kw):
        def run():
            rec(name, port, transport, hold_stream(port, *args, **kw))
        t = threading.Thread(target=run)
        t.start()
        held.append(t)

    for sh in shards:
        u, t, tl = sh.get("udp", 0), sh.get("tcp", 0), sh.get("tls", 0)
        if u:
            rec("options", u, "udp", udp_probe(u, [sip_request("OPTIONS")]))
            rec("invite_out_of_dialog", u, "udp", udp_probe(u, [sip_request("INVITE", extra="Content-Type: application/sdp\r\n", body=SDP)]))
            rec("register", u, "udp", udp_probe(u, [sip_request("REGISTER", uri="sip:127.0.0.1")]))
            rec("oversized_header", u, "udp", udp_probe(u, [sip_request("OPTIONS", extra=big_header[:64000])]))
            rec("many_via_udp", u, "udp", udp_probe(u, [sip_request("OPTIONS", via_count=1000)]))
            rec("bad_content_length", u, "udp", udp_probe(u, [sip_request("OPTIONS", body="x", cl=999),
                                                             sip_request("OPTIONS", body="x", cl="-1"),
                                                             sip_request("OPTIONS", body="x", cl="99999999999999999999")]))
            rec("response_spoof", u, "udp", udp_probe(u, [b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\n"
                                                          b"To: <sip:a@b>;tag=1\r\nFrom: <sip:a@b>;tag=2\r\nCall-ID: x\r\n"
                                                          b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"]))
            rec("garbage_flood_one_source", u, "udp", udp_flood(u, a.flood, 1))
            rec("garbage_flood_many_sources", u, "udp", udp_flood(u, a.flood, 500))
        if t:
            rec("options", t, "tcp", hold_stream(t, sip_request("OPTIONS"), 3.0))
            rec("many_via_10000", t, "tcp", hold_stream(t, sip_request("OPTIONS", via_count=10000), 5.0))
            rec("oversized_header", t, "tcp", hold_stream(t, sip_request("OPTIONS", extra="X-Junk: " + "A" * 200000 + "\r\n"), 5.0))
            rec("huge_content_length", t, "tcp", hold_stream(t, sip_request("OPTIONS", body="x", cl=100000000), 5.0))
            rec("garbage_stream", t, "tcp", hold_stream(t, os.urandom(4096), 5.0))
            hold_in_thread("half_message_held_open", t, "tcp", sip_request("INVITE")[:120], a.hold_limit)
            hold_in_thread("silent_connection", t, "tcp", b"", a.hold_limit)
        if tl:
            hold_in_thread("tls_handshake_never_sent", tl, "tls", b"", a.hold_limit, use_tls=True, handshake=False)
            hold_in_thread("tls_partial_client_hello", tl, "tls", bytes.fromhex("160301020001"), a.hold_limit,
                           use_tls=False)
            rec("tls_options", tl, "tls", hold_stream(tl, sip_request("OPTIONS"), 3.0, use_tls=True))
            hold_in_thread("tls_silent_after_handshake", tl, "tls", b"", a.hold_limit, use_tls=True)
    if shards and shards[0].get("tcp"):
        rec("connection_flood", shards[0]["tcp"], "tcp", connection_flood(shards[0]["tcp"], a.conn_flood, 3.0))
    for th in held:
        th.join()
    out["reply_bytes_total"] = sum(p.get("reply_bytes", 0) for p in out["probes"])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
