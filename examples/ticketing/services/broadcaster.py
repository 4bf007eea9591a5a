"""broadcaster: live seat updates as server-sent events."""
import json
import time

from common import Handler, fetch_json, serve, service_url


class Broadcaster(Handler):
    def handle_GET(self):
        if self.path != "/live":
            return self.send_json(404, {"error": "not found"})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        last = None
        try:
            while True:
                status, taken = fetch_json(service_url("reservationengine") + "/api/reservations")
                if status == 200 and taken != last:
                    self.wfile.write(("data: %s\n\n" % json.dumps(taken)).encode())
                    self.wfile.flush()
                    last = taken
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            return


if __name__ == "__main__":
    serve(Broadcaster, "broadcaster")
