#!/usr/bin/env python3
"""A webhook receiver for the robustness scripts: answers every POST with STATUS and, when that is
200, appends {"id": X-Switchboard-Event-Id, "t": arrival (Unix s), "body": the JSON} to LOG.
With DELAY_MS it is a slow receiver: it records the event on arrival, then waits that long before
answering (longer than the sender's 5 s request timeout: the event was processed but the sender
sees a timeout and sends it again, at-least-once).

  webhook_receiver.py PORT STATUS LOG [DELAY_MS]
"""
import http.server
import json
import sys
import time

port, status, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
delay = int(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if status == 200:
            with open(log, "a") as f:
                f.write(json.dumps({"id": self.headers.get("X-Switchboard-Event-Id"), "t": time.time(),
                                    "body": json.loads(body)}) + "\n")
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
