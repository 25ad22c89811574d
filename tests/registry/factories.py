"""Small builders for registry tests."""

from __future__ import annotations

import datetime as dt
import itertools

from permis.registry import services
from permis.registry.models import Holder, Licence

_numbers = itertools.count(1)


def holder(**fields) -> Holder:
    values = {
        "birth_name": "MARTIN",
        "given_names": "Camille",
        "birth_date": dt.date(1990, 5, 17),
        "birth_place": "75056",
        "sex": "female",
        "email": "camille.martin@example.fr",
    }
    values.update(fields)
    return Holder(**values)


def licence(obtained_on: dt.date = dt.date(2010, 3, 1), on: dt.date | None = None, **fields) -> Licence:
    n = next(_numbers)
    return services.register_licence(
        holder=fields.pop("holder", None) or holder(),
        number=fields.pop("number", f"{100000000000 + n}"),
        dossier_number=fields.pop("dossier_number", f"{900000000000 + n}"),
        obtained_on=obtained_on,
        categories=fields.pop("categories", [{"code": "B", "obtained_on": obtained_on}]),
        on=on or dt.date(2024, 1, 1),
        **fields,
    )


def offence(committed: str, final: str, points: int = 3, cls: str = "C4", **extra) -> dict:
    return {"committed_on": committed, "final_on": final, "points": points, "class": cls, **extra}
