"""seed: fills the development database with the events, on every `berth up` (a Job)."""
import json
import sys
import urllib.request

from common import service_url

EVENTS = [
    {"id": 1, "name": "Opening night", "seats": 20},
    {"id": 2, "name": "Matinee", "seats": 10},
]

for event in EVENTS:
    req = urllib.request.Request(
        service_url("testdbserver") + "/kv/event-%d" % event["id"],
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        if resp.status != 200:
            sys.exit("seeding event %d failed with HTTP %d" % (event["id"], resp.status))
print("seeded %d events" % len(EVENTS), flush=True)
