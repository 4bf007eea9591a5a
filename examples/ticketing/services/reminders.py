"""reminders: a CronJob that mails a summary of today's reservations to the mail sink."""
import sys

from common import fetch_json, service_url

status, taken = fetch_json(service_url("reservationengine") + "/api/reservations")
if status != 200:
    sys.exit("reservationengine answered HTTP %d" % status)
status, _ = fetch_json(
    service_url("mailtool") + "/send",
    {"to": "boxoffice@ticketing.localhost", "subject": "%d seats reserved" % len(taken)},
)
if status != 202:
    sys.exit("mailtool answered HTTP %d" % status)
print("sent the summary: %d seats reserved" % len(taken), flush=True)
