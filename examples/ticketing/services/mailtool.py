"""mailtool: catches every mail sent in development; POST /send, GET /mails."""
import threading

from common import Handler, serve

LOCK = threading.Lock()
MAILS = []


class Mailtool(Handler):
    def handle_GET(self):
        if self.path == "/mails":
            with LOCK:
                return self.send_json(200, list(MAILS))
        return self.send_json(404, {"error": "not found"})

    def handle_POST(self):
        if self.path != "/send":
            return self.send_json(404, {"error": "not found"})
        mail = self.read_json()
        if not isinstance(mail, dict) or "to" not in mail:
            return self.send_json(400, {"error": "send JSON with at least 'to'"})
        with LOCK:
            MAILS.append(mail)
        print("mail to %s: %s" % (mail["to"], mail.get("subject", "")), flush=True)
        return self.send_json(202, {"queued": len(MAILS)})


if __name__ == "__main__":
    serve(Mailtool, "mailtool")
