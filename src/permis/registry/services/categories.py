"""A licence's categories and their medical validity, as an agent records them (ARCHITECTURE.md, rule 5).

Categories do not move points: the engine never reads them, so changing one writes no event. The row is changed
under the licence's lock, checked field by field, and the licence's seal (``core.identity_seal``, which covers its
categories) is written again in the same transaction: a category changed any other way is found by `permis
verify`. The caller (the back office) says who changed it.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from ..models import Category, Licence
from .core import RegistryError, today, write_seal


@transaction.atomic
def set_category(
    licence: Licence | int,
    *,
    code: str,
    obtained_on: dt.date,
    expires_on: dt.date | None = None,
    restrictions: str = "",
) -> Category:
    """Add a category to a licence or change one it holds (dates, medical validity, restrictions).

    `expires_on` is the end of the category's validity (the medical check of the heavy categories, R221-10);
    None: no end. Raises RegistryError naming the field when a value is not acceptable."""
    licence_id = licence.pk if isinstance(licence, Licence) else licence
    row = Licence.objects.select_for_update().filter(pk=licence_id).first()
    if row is None:
        raise RegistryError([f"licence: no licence with id {licence_id}"])
    problems = []
    if code not in Category.Code.values:
        problems.append(f"code: {code!r} is not one of {', '.join(Category.Code.values)}")
    if obtained_on < row.obtained_on:
        problems.append(
            f"obtained_on: {obtained_on.isoformat()} is before the licence was obtained ({row.obtained_on})"
        )
    if obtained_on > today():
        problems.append(f"obtained_on: {obtained_on.isoformat()} is in the future")
    if expires_on is not None and expires_on <= obtained_on:
        problems.append(
            f"expires_on: {expires_on.isoformat()} is not after obtained_on {obtained_on.isoformat()}"
        )
    restrictions = restrictions.strip()
    if len(restrictions) > Category._meta.get_field("restrictions").max_length:
        problems.append("restrictions: at most 100 characters")
    if problems:
        raise RegistryError(problems)
    category, _ = Category.objects.update_or_create(
        licence=row,
        code=code,
        defaults={"obtained_on": obtained_on, "expires_on": expires_on, "restrictions": restrictions},
    )
    write_seal(row.pk)
    return category
