"""The daily run (PRODUCT.md, capability 4): apply every change that falls due on or before a date.

Only the licences whose projection says a change is due (``next_change_on <= on``) are touched, in licence id
order, in batches that each commit on their own: a run killed at any point loses at most the batch it was in,
and the next run starts from what is still due. A licence's rows after the run are exactly those that
``services.core.refresh(licence, on)`` would leave (movements, letters, projection), so catching up several days
in one run gives the same file as running each day.

Each batch is one transaction: lock the batch's licences (``SELECT ... FOR UPDATE``, in id order, as every
writer locks a licence before touching its file), read their events, movements and letters in one query each,
replay each history once, then write the differences in a handful of statements.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from ..models import Movement, Notice, Projection
from .replay import PROJECTION_FIELDS, derive, load_events, load_licences

BATCH_SIZE = 500
PAGE_BATCHES = 20  # due licence ids are read 20 batches at a time


@dataclass
class DailySummary:
    on: dt.date
    licences: int = 0  # licences brought up to date
    changes: int = 0  # movements written (restorations, probation increments and end, ...)
    letters: int = 0  # letters made due (Notice rows created)
    batches: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "on": self.on.isoformat(),
            "licences": self.licences,
            "changes": self.changes,
            "letters": self.letters,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "kinds": dict(sorted(self.kinds.items())),
        }


def due_count(on: dt.date) -> int:
    return Projection.objects.filter(next_change_on__lte=on).count()


def _due_ids(on: dt.date, after: int, limit: int) -> list[int]:
    return list(
        Projection.objects.filter(next_change_on__lte=on, licence_id__gt=after)
        .order_by("licence_id")
        .values_list("licence_id", flat=True)[:limit]
    )


def run_daily(
    on: dt.date,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> DailySummary:
    """Bring every licence with a change due on or before `on` up to `on`. Idempotent and resumable."""
    summary = DailySummary(on=on)
    start = time.perf_counter()
    last_id = 0
    while True:
        page = _due_ids(on, last_id, batch_size * PAGE_BATCHES)
        if not page:
            break
        last_id = page[-1]
        for index in range(0, len(page), batch_size):
            ids = page[index : index + batch_size]
            with transaction.atomic():
                _apply_batch(ids, on, summary)
            summary.batches += 1
            if progress is not None:
                progress(len(ids))
    summary.seconds = time.perf_counter() - start
    return summary


def _apply_batch(ids: Sequence[int], on: dt.date, summary: DailySummary) -> None:
    licences = load_licences(ids, lock=True)
    # Read again under the lock: another writer may have brought a licence up to date meanwhile.
    projections = dict(
        Projection.objects.filter(licence_id__in=ids, next_change_on__lte=on).values_list(
            "licence_id", "as_of"
        )
    )
    due = [licence_id for licence_id in licences if licence_id in projections]
    if not due:
        return
    events = load_events(due)
    stored: dict[int, list[tuple]] = {licence_id: [] for licence_id in due}
    for row in (
        Movement.objects.filter(licence_id__in=due)
        .order_by("licence_id", "position")
        .values_list(
            "licence_id", "id", "on", "kind", "change", "balance", "raw_balance", "cap", "cause", "basis"
        )
    ):
        stored[row[0]].append(row[1:])
    existing: set[tuple] = set(
        Notice.objects.filter(licence_id__in=due).values_list("licence_id", "code", "cause", "due_on")
    )

    stale: list[int] = []
    new_movements: list[Movement] = []
    new_notices: list[Notice] = []
    projections_out: list[Projection] = []
    now = timezone.now()
    for licence_id in due:
        licence = licences[licence_id]
        licence_events = events.get(licence_id, [])
        # Never move a projection back in time (it may already be ahead of `on`).
        derived = derive(licence, licence_events, max(on, projections[licence_id]))
        old = stored[licence_id]
        first_difference = 0
        for old_row, new_row in zip(old, derived.movements):
            if old_row[1:] != new_row:
                break
            first_difference += 1
        stale.extend(row[0] for row in old[first_difference:])
        for position in range(first_difference, len(derived.movements)):
            row = derived.movements[position]
            new_movements.append(
                Movement(
                    licence_id=licence_id,
                    position=position,
                    on=row[0],
                    kind=row[1],
                    change=row[2],
                    balance=row[3],
                    raw_balance=row[4],
                    cap=row[5],
                    cause=row[6],
                    basis=row[7],
                )
            )
            summary.kinds[row[1]] = summary.kinds.get(row[1], 0) + 1
        for code, cause, due_on in derived.letters:
            key = (licence_id, code, cause, due_on)
            if key not in existing:
                existing.add(key)
                new_notices.append(Notice(licence_id=licence_id, code=code, cause=cause, due_on=due_on))
        projections_out.append(Projection(licence_id=licence_id, updated_at=now, **derived.projection))
    if stale:
        Movement.objects.filter(pk__in=stale).delete()
    Movement.objects.bulk_create(new_movements)
    Notice.objects.bulk_create(new_notices)
    Projection.objects.bulk_update(projections_out, [*PROJECTION_FIELDS, "updated_at"])
    summary.licences += len(due)
    summary.changes += len(new_movements)
    summary.letters += len(new_notices)
