"""queue: the websales rate limiter in front of web."""
import os
import threading
import time
import urllib.error
import urllib.request

from common import Handler, serve, service_url

RATE = float(os.environ.get("RATE_PER_SECOND", "20"))
LOCK = threading.Lock()
BUCKET = {"tokens": RATE, "at": time.monotonic()}


def admit():
    with LOCK:
        now = time.monotonic()
        BUCKET["tokens"] = min(RATE, BUCKET["tokens"] + (now - BUCKET["at"]) * RATE)
        BUCKET["at"] = now
        if BUCKET["tokens"] >= 1:
            BUCKET["tokens"] -= 1
            return True
        return False


class Queue(Handler):
    def handle_GET(self):
        if not admit():
            return self.send_text(429, "You are in the queue: please retry in a moment.\n")
        try:
            resp = urllib.request.urlopen(service_url("web") + self.path, timeout=10)
        except urllib.error.HTTPError as e:
            # web's own answer (a 404, a 409): passed on as it is, not turned into a dropped
            # connection.
            resp = e
        with resp:
            body = resp.read().decode()
            return self.send_text(resp.status, body, resp.headers.get("Content-Type", "text/plain"))


if __name__ == "__main__":
    serve(Queue, "queue")
