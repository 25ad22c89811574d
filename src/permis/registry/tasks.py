"""The registry's background jobs (django-tasks, database backend): the daily run, every day at 00:05 in Paris.

The schedule is kept in the task queue itself: each daily run enqueues the next one (``run_after`` = the next
00:05 Europe/Paris), and `permis worker` makes sure one is pending when it starts. There is never more than one
pending daily run: enqueuing takes a lock and looks first.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django_tasks import task

from .services import today
from .services.daily import DEFAULT_JOBS, run_daily

log = logging.getLogger(__name__)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
RUN_AT = dt.time(0, 5)  # local time, after midnight's legal day change
_SCHEDULE_LOCK = 0x7065726D69730001  # a PostgreSQL advisory lock key ("permis" + 1)


def next_run_at(now: dt.datetime) -> dt.datetime:
    """The first 00:05, Paris time, strictly after `now` (an aware datetime), in UTC.

    00:05 exists and is unambiguous every day in Paris (the clocks change at 02:00 and 03:00), so the run keeps
    its local time across summer and winter time: 22:05 UTC in summer, 23:05 UTC in winter.
    """
    if timezone.is_naive(now):
        raise ValueError("next_run_at needs an aware datetime")
    local = now.astimezone(PARIS)
    candidate = dt.datetime.combine(local.date(), RUN_AT, tzinfo=PARIS)
    if candidate <= local:
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), RUN_AT, tzinfo=PARIS)
    return candidate.astimezone(dt.UTC)


@task()
def daily_run(on: str | None = None) -> dict[str, Any]:
    """Apply every change due on or before `on` (ISO date; default: today in Paris), then book the next run."""
    day = dt.date.fromisoformat(on) if on else today()
    try:
        summary = run_daily(day, jobs=DEFAULT_JOBS)
        log.info(
            "daily run of %s: %d licences, %d changes, %d letters, %.1f s",
            day,
            summary.licences,
            summary.changes,
            summary.letters,
            summary.seconds,
        )
        return summary.as_dict()
    finally:
        ensure_scheduled()


def pending_daily_runs():
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=daily_run.module_path, status=TaskResultStatus.READY)


def ensure_scheduled(now: dt.datetime | None = None) -> tuple[Any, bool]:
    """Make sure a daily run is pending; returns (its row, whether it was enqueued now). Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEDULE_LOCK])
        pending = pending_daily_runs().order_by("run_after").first()
        if pending is not None:
            return pending, False
        result = daily_run.using(run_after=next_run_at(now)).enqueue()
        return pending_daily_runs().get(id=result.id), True
