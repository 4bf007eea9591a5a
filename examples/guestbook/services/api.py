"""api: keeps the guestbook's entries in memory; GET /entries, POST /entries {"text": ...}."""
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX = int(os.environ.get("MAX_ENTRIES", "100"))
LOCK = threading.Lock()
ENTRIES = []


class Api(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        print("api:", fmt % args, flush=True)

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, {"ok": True})
        if self.path == "/entries":
            with LOCK:
                return self.reply(200, list(ENTRIES))
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/entries":
            return self.reply(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length", "0"))
        try:
            text = json.loads(self.rfile.read(length) or b"{}").get("text", "").strip()
        except ValueError:
            return self.reply(400, {"error": "send JSON: {\"text\": \"...\"}"})
        if not text:
            return self.reply(400, {"error": "empty entry"})
        with LOCK:
            ENTRIES.append(text[:200])
            del ENTRIES[:-MAX]
        self.reply(201, {"text": text[:200]})


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8100"))
    print(f"api: listening on {port}, keeping {MAX} entries", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Api).serve_forever()
