"""The delivery worker's job (django-tasks, database backend): plan and send the letters, every minute.

Like the registry's daily run, the schedule lives in the task queue: each run enqueues the next one
(``run_after`` = now + INTERVAL), in a ``finally`` so that a run that failed still books the next, and
`permis worker` makes sure one is pending when it starts. There is never more than one pending delivery run:
enqueuing takes a lock (an advisory lock on PostgreSQL; SQLite serialises writers) and looks first. Two runs
at once (two worker processes) would still be safe: claims are atomic; they would only share the work.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django_tasks import task

from . import services

log = logging.getLogger(__name__)

INTERVAL = dt.timedelta(minutes=1)
_SCHEDULE_LOCK = 0x7065726D69730002  # a PostgreSQL advisory lock key ("permis" + 2)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


@task()
def deliver_notices() -> dict[str, Any]:
    """Plan the deliveries of new letters, send every delivery that is due, then book the next run."""
    try:
        plan = services.plan_deliveries()
        sent = services.deliver_due(worker=worker_name())
        if plan.notices or sent.total:
            log.info(
                "notices: %d letters planned (%s), %d deliveries sent (%s) in %.1f s",
                plan.notices,
                dict(plan.deliveries),
                sent.total,
                sent.as_dict()["by_channel"],
                plan.seconds + sent.seconds,
            )
        return {"planned": plan.as_dict(), "sent": sent.as_dict()}
    finally:
        ensure_scheduled()


def pending_runs():
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=deliver_notices.module_path, status=TaskResultStatus.READY)


def ensure_scheduled(now: dt.datetime | None = None) -> tuple[Any, bool]:
    """Make sure one delivery run is pending; returns (its row, whether it was enqueued now). Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEDULE_LOCK])
        pending = pending_runs().order_by("run_after").first()
        if pending is not None:
            return pending, False
        result = deliver_notices.using(run_after=now + INTERVAL).enqueue()
        return pending_runs().get(id=result.id), True
