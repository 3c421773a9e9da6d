#!/usr/bin/env python3
"""A webhook receiver for the robustness scripts: answers every POST with STATUS and, when that is
200, appends {"id": X-Switchboard-Event-Id, "t": arrival (Unix s), "body": the JSON} to LOG.

  webhook_receiver.py PORT STATUS LOG
"""
import http.server
import json
import sys
import time

port, status, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if status == 200:
            with open(log, "a") as f:
                f.write(json.dumps({"id": self.headers.get("X-Switchboard-Event-Id"), "t": time.time(),
                                    "body": json.loads(body)}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
