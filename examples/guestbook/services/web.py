"""web: the guestbook page; reads and writes entries through the api Service."""
import html
import json
import os
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TITLE = os.environ.get("TITLE", "guestbook")


def api_url():
    # Kubernetes (and berth up) give every Service as API_SERVICE_HOST / API_SERVICE_PORT.
    host = os.environ.get("API_SERVICE_HOST", "api")
    port = os.environ.get("API_SERVICE_PORT", "80")
    return f"http://{host}:{port}"


class Web(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        print("web:", fmt % args, flush=True)

    def send(self, status, body, kind="text/html; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            return self.send(200, "ok", "text/plain")
        with urllib.request.urlopen(api_url() + "/entries", timeout=5) as r:
            entries = json.load(r)
        items = "".join(f"<li>{html.escape(e)}</li>" for e in entries)
        self.send(200, f"<h1>{html.escape(TITLE)}</h1><form method=post><input name=text>"
                       f"<button>Sign</button></form><ul>{items}</ul>")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        body = json.dumps({"text": form.get("text", [""])[0]}).encode()
        req = urllib.request.Request(api_url() + "/entries", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except urllib.error.HTTPError as e:
            return self.send(e.code, e.read().decode(), "application/json")
        self.send_response(303)
        self.send_header("Location", "/")
        self.end_headers()


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8101"))
    print(f"web: listening on {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Web).serve_forever()
