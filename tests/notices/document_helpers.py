"""Licences whose histories make each letter due, for the documents' tests and the benchmark."""

from __future__ import annotations

import datetime as dt
import itertools

from permis.registry import services
from permis.registry.models import Licence, Notice
from tests.registry.factories import holder, licence, offence

_refs = itertools.count(1)


def addressed_holder(**fields):
    values = {
        "birth_name": "DUPONT",
        "given_names": "Camille Marie",
        "address": "12 rue des Lilas\nAppartement 3",
        "postal_code": "69003",
        "city": "Lyon",
    }
    values.update(fields)
    return holder(**values)


def record(lic: Licence, kind: str, data: dict, on: str) -> None:
    services.record_event(
        lic,
        kind,
        data,
        source="feed",
        sender="ANTAI",
        source_ref=f"D-{next(_refs)}",
        on=dt.date.fromisoformat(on),
    )


def licence_with(code: str) -> Licence:
    """A licence of the registry whose history makes a letter `code` due (with its Notice row)."""
    if code == "48N":
        lic = licence(obtained_on=dt.date(2024, 4, 1), on=dt.date(2024, 4, 2), holder=addressed_holder())
        record(lic, "offence", offence("2024-07-01", "2024-07-10", 3), "2024-07-11")
        return lic
    lic = licence(obtained_on=dt.date(2010, 3, 1), on=dt.date(2024, 1, 1), holder=addressed_holder())
    if code == "48":
        record(lic, "offence", offence("2024-03-01", "2024-03-20", 3), "2024-03-21")
    elif code == "48M":
        record(lic, "offence", offence("2024-03-01", "2024-03-20", 6, "D"), "2024-03-21")
    elif code == "48SI":
        record(lic, "offence", offence("2024-03-01", "2024-03-20", 6, "D"), "2024-03-21")
        record(lic, "offence", offence("2024-05-01", "2024-05-20", 6, "D"), "2024-05-21")
    elif code == "46":
        record(lic, "offence", offence("2024-03-01", "2024-03-20", 1, "C3"), "2024-03-21")
        services.refresh(lic, dt.date(2024, 10, 1))
    elif code == "47":
        record(lic, "offence", offence("2024-03-01", "2024-03-20", 4), "2024-03-21")
        services.record_event(
            lic,
            "course",
            {"first_day": "2024-06-10", "last_day": "2024-06-11", "type": "voluntary"},
            source="course_centre",
            on=dt.date(2024, 6, 20),
        )
    else:
        raise ValueError(code)
    return lic


def notice_for(code: str) -> Notice:
    lic = licence_with(code)
    return Notice.objects.filter(licence=lic, code=code).order_by("-due_on").first()
