"""web: backend endpoints and a tiny shop page."""
from common import Handler, fetch_json, serve, service_url

EVENTS = [
    {"id": 1, "name": "Opening night", "seats": 20},
    {"id": 2, "name": "Matinee", "seats": 10},
]


class Web(Handler):
    def handle_GET(self):
        if self.path == "/api/events":
            return self.send_json(200, EVENTS)
        if self.path == "/":
            status, taken = fetch_json(service_url("reservationengine") + "/api/reservations")
            taken = taken if status == 200 else []
            rows = "".join(
                "<li>%s: %d of %d seats left</li>"
                % (e["name"], e["seats"] - sum(1 for r in taken if r["event"] == e["id"]), e["seats"])
                for e in EVENTS
            )
            return self.send_text(200, "<h1>Tickets</h1><ul>%s</ul>" % rows, "text/html; charset=utf-8")
        return self.send_json(404, {"error": "not found"})


if __name__ == "__main__":
    serve(Web, "web")
