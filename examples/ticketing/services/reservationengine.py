"""reservationengine: seat reservations; a seat is never sold twice."""
import threading

from common import Handler, serve

LOCK = threading.Lock()
RESERVATIONS = {}  # (event, seat) -> customer


class Reservations(Handler):
    def handle_GET(self):
        if self.path == "/api/reservations":
            with LOCK:
                body = [{"event": e, "seat": s, "customer": c} for (e, s), c in sorted(RESERVATIONS.items())]
            return self.send_json(200, body)
        return self.send_json(404, {"error": "not found"})

    def handle_POST(self):
        if self.path != "/api/reservations":
            return self.send_json(404, {"error": "not found"})
        req = self.read_json()
        if not isinstance(req, dict) or not all(k in req for k in ("event", "seat", "customer")):
            return self.send_json(400, {"error": "send JSON with event, seat and customer"})
        key = (int(req["event"]), int(req["seat"]))
        with LOCK:
            if key in RESERVATIONS:
                return self.send_json(409, {"error": "seat already taken"})
            RESERVATIONS[key] = str(req["customer"])
        return self.send_json(201, {"event": key[0], "seat": key[1], "customer": req["customer"]})


if __name__ == "__main__":
    serve(Reservations, "reservationengine")
