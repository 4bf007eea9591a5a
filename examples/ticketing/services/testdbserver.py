"""testdbserver: the development database, a key-value store over HTTP (GET/POST /kv/<key>)."""
import threading

from common import Handler, serve

LOCK = threading.Lock()
DATA = {}


class Db(Handler):
    def handle_GET(self):
        if self.path.startswith("/kv/"):
            with LOCK:
                if self.path[4:] in DATA:
                    return self.send_json(200, DATA[self.path[4:]])
            return self.send_json(404, {"error": "no such key"})
        return self.send_json(404, {"error": "not found"})

    def handle_POST(self):
        if not self.path.startswith("/kv/"):
            return self.send_json(404, {"error": "not found"})
        value = self.read_json()
        with LOCK:
            DATA[self.path[4:]] = value
        return self.send_json(200, value)


if __name__ == "__main__":
    serve(Db, "testdbserver")
