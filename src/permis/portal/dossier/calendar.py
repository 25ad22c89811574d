"""The forecast as an iCalendar file (RFC 5545): all-day events, CRLF lines folded at 75 octets, text escaped.

Each event's UID is stable (the licence, the kind of change, its date and cause), so a calendar that imports the
file again updates its events instead of doubling them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext as _

PRODID = "-//permis//Prévisions du solde de points//FR"


def escape(text: str) -> str:
    """TEXT value escaping (RFC 5545 §3.3.11)."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Lines longer than 75 octets are split, each continuation starting with a space (§3.1), never in a
    UTF-8 sequence."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def forecast_calendar(licence: Any, items: Sequence[dict[str, Any]], host: str, *, stamp: dt.datetime) -> str:
    name = _("Mes points de permis : prévisions")  # not inside an f-string: xgettext would not collect it
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(name)}",
    ]
    domain = host.split(":")[0] or "permis"
    for item in items:
        key = f"{licence.pk}:{item['kind']}:{item['on'].isoformat()}:{item.get('cause', '')}:{item['change']}"
        uid = hashlib.sha256(key.encode()).hexdigest()[:32]
        change = item["change"]
        summary = item["label"]
        if change:
            summary = f"{summary} ({change:+d})"
        description = [
            _("Solde prévu : %(balance)s / %(cap)s points")
            % {"balance": item["balance"], "cap": item["cap"]},
        ]
        if item.get("reason"):
            description.append(item["reason"])
        if item.get("unless"):
            description.append(_("Annulé par : %(unless)s") % {"unless": item["unless"]})
        if item.get("basis"):
            description.append(item["basis"])
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}@{domain}",
            f"DTSTAMP:{stamp.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}",
            f"DTSTART;VALUE=DATE:{item['on'].strftime('%Y%m%d')}",
            f"DTEND;VALUE=DATE:{(item['on'] + dt.timedelta(days=1)).strftime('%Y%m%d')}",
            f"SUMMARY:{escape(str(summary))}",
            f"DESCRIPTION:{escape(chr(10).join(str(d) for d in description))}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
