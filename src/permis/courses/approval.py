"""The préfet's approval of a course centre, and its withdrawal (R213-1 and R223-5: the centres are approved by
the préfet of their département). The one writer of ``CourseCentre`` rows outside the demo seed.

A withdrawal is dated and kept: the centre's past sessions stay attached to it, and ``approved(on)`` answers
for any day. Approving again a withdrawn centre (same approval number) starts a new approval from its date.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from .models import CourseCentre
from .services import CourseError, departement_of


@transaction.atomic
def approve_centre(
    *,
    name: str,
    approval_number: str,
    address: str,
    postcode: str,
    city: str,
    departement: str,
    approved_on: dt.date,
    contact: str = "",
) -> CourseCentre:
    """Approve a centre (or approve again a withdrawn one with the same approval number).

    Raises CourseError naming the field: an empty name, address or city, a postcode that is not French, a
    département that is not the postcode's, an approval number already held by an approved centre."""
    name, approval_number, address, city = (v.strip() for v in (name, approval_number, address, city))
    for field, value in (("name", name), ("approval_number", approval_number), ("address", address)):
        if not value:
            raise CourseError(field, "required")
    if not city:
        raise CourseError("city", "required")
    where = departement_of(postcode)
    if departement.strip().upper() != where:
        raise CourseError(
            "departement", f"{departement!r} is not the département of postcode {postcode} ({where})"
        )
    existing = CourseCentre.objects.select_for_update().filter(approval_number=approval_number).first()
    if existing is not None:
        if existing.withdrawn_on is None:
            raise CourseError("approval_number", f"{approval_number!r} is already held by {existing.name}")
        if approved_on < existing.withdrawn_on:
            raise CourseError(
                "approved_on",
                f"{approved_on.isoformat()} is before the withdrawal of {existing.withdrawn_on.isoformat()}",
            )
        centre = existing
    else:
        centre = CourseCentre(approval_number=approval_number)
    centre.name, centre.address, centre.postcode, centre.city = name, address, postcode.strip(), city
    centre.departement, centre.approved_on, centre.withdrawn_on = where, approved_on, None
    centre.contact = contact.strip()
    centre.save()
    return centre


@transaction.atomic
def withdraw_centre(centre: CourseCentre | int, on: dt.date) -> CourseCentre:
    """Withdraw a centre's approval from `on` (its sessions from that day are no longer offered)."""
    centre_id = centre.pk if isinstance(centre, CourseCentre) else centre
    row = CourseCentre.objects.select_for_update().filter(pk=centre_id).first()
    if row is None:
        raise CourseError("centre", f"no centre with id {centre_id}")
    if row.withdrawn_on is not None:
        raise CourseError(
            "centre", f"{row.name}: approval already withdrawn on {row.withdrawn_on.isoformat()}"
        )
    if on < row.approved_on:
        raise CourseError("on", f"{on.isoformat()} is before the approval of {row.approved_on.isoformat()}")
    row.withdrawn_on = on
    row.save(update_fields=["withdrawn_on"])
    return row
