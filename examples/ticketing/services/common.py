"""Shared by the ticketing services: a threaded HTTP server on $PORT with JSON helpers."""
import json
import os
import signal
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    """Routes to do_<METHOD>_<path segment> methods; /healthz answers ok."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.command, fmt % args))
        sys.stdout.flush()

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, status, text, content_type="text/plain; charset=utf-8"):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def route(self, method):
        if self.path == "/healthz":
            self.discard_body()
            return self.send_text(200, "ok\n")
        handler = getattr(self, "handle_" + method, None)
        if handler is None:
            # Read the body it will not use: on a kept-alive connection, unread bytes would be
            # taken for the next request (request smuggling through a pooled proxy).
            self.discard_body()
            return self.send_json(405, {"error": "method not allowed"})
        return handler()

    def discard_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1 << 20 or self.headers.get("Transfer-Encoding"):
            self.close_connection = True
        elif length:
            self.rfile.read(length)

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


def service_url(name):
    """The address of another service, from the variables Kubernetes (and berth) inject."""
    prefix = name.upper().replace("-", "_")
    host = os.environ.get(prefix + "_SERVICE_HOST", "127.0.0.1")
    port = os.environ.get(prefix + "_SERVICE_PORT", "80")
    return "http://%s:%s" % (host, port)


def fetch_json(url, body=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def serve(handler_class, name):
    port = int(os.environ.get("PORT", "8000"))
    # Loopback as a local process; every interface inside a container (the image sets it).
    host = os.environ.get("LISTEN_HOST", "127.0.0.1")
    server = ThreadingHTTPServer((host, port), handler_class)
    server.daemon_threads = True
    # SystemExit unwinds serve_forever; calling server.shutdown() here would deadlock.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("%s listening on %s:%d" % (name, host, port), flush=True)
    server.serve_forever()
