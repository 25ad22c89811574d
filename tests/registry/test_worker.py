"""The worker: the daily run booked every day at 00:05 Paris time, across summer and winter time, never twice."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django_tasks.base import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from permis.registry import services
from permis.registry.models import Projection
from permis.registry.tasks import PARIS, daily_run, ensure_scheduled, next_run_at, pending_daily_runs

from .factories import licence, offence

UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Winter time (UTC+1): 00:05 Paris is 23:05 UTC the day before.
        (dt.datetime(2025, 1, 15, 12, 0, tzinfo=UTC), dt.datetime(2025, 1, 15, 23, 5, tzinfo=UTC)),
        # Just before and at 00:05 Paris.
        (dt.datetime(2025, 1, 15, 23, 4, 59, tzinfo=UTC), dt.datetime(2025, 1, 15, 23, 5, tzinfo=UTC)),
        (dt.datetime(2025, 1, 15, 23, 5, tzinfo=UTC), dt.datetime(2025, 1, 16, 23, 5, tzinfo=UTC)),
        # Between midnight and 00:05 Paris: today's run is still to come.
        (dt.datetime(2025, 1, 15, 23, 1, tzinfo=UTC), dt.datetime(2025, 1, 15, 23, 5, tzinfo=UTC)),
        # Spring forward (Sunday 30 March 2025, 02:00 -> 03:00): the night before is still winter time...
        (dt.datetime(2025, 3, 29, 12, 0, tzinfo=UTC), dt.datetime(2025, 3, 29, 23, 5, tzinfo=UTC)),
        # ...the next night is summer time (UTC+2).
        (dt.datetime(2025, 3, 30, 12, 0, tzinfo=UTC), dt.datetime(2025, 3, 30, 22, 5, tzinfo=UTC)),
        # A run asked for during the missing hour.
        (dt.datetime(2025, 3, 30, 1, 30, tzinfo=UTC), dt.datetime(2025, 3, 30, 22, 5, tzinfo=UTC)),
        # Fall back (Sunday 26 October 2025, 03:00 -> 02:00): that night's run is still summer time...
        (dt.datetime(2025, 10, 25, 12, 0, tzinfo=UTC), dt.datetime(2025, 10, 25, 22, 5, tzinfo=UTC)),
        # ...during the repeated hour, the next run is the following night, in winter time.
        (dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC), dt.datetime(2025, 10, 26, 23, 5, tzinfo=UTC)),
        (dt.datetime(2025, 10, 26, 1, 30, tzinfo=UTC), dt.datetime(2025, 10, 26, 23, 5, tzinfo=UTC)),
        # New Year's Eve.
        (dt.datetime(2025, 12, 31, 23, 30, tzinfo=UTC), dt.datetime(2026, 1, 1, 23, 5, tzinfo=UTC)),
    ],
)
def test_the_next_run_is_at_five_past_midnight_in_paris(now: dt.datetime, expected: dt.datetime) -> None:
    when = next_run_at(now)
    assert when == expected
    local = when.astimezone(PARIS)
    assert (local.hour, local.minute) == (0, 5)
    assert when > now


def test_every_day_of_a_year_has_its_run_at_0005_paris() -> None:
    now = dt.datetime(2024, 12, 31, 12, 0, tzinfo=UTC)
    days = []
    for _ in range(365):
        now = next_run_at(now)
        local = now.astimezone(PARIS)
        assert (local.hour, local.minute) == (0, 5)
        days.append(local.date())
    assert days == [dt.date(2025, 1, 1) + dt.timedelta(days=n) for n in range(365)]


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_run_at(dt.datetime(2025, 1, 1, 12, 0))  # noqa: DTZ001


@pytest.mark.django_db
def test_the_daily_run_is_booked_once() -> None:
    now = dt.datetime(2025, 3, 29, 12, 0, tzinfo=UTC)
    first, created = ensure_scheduled(now)
    again, created_again = ensure_scheduled(now)
    assert created and not created_again
    assert first.id == again.id
    assert pending_daily_runs().count() == 1
    assert first.run_after == dt.datetime(2025, 3, 29, 23, 5, tzinfo=UTC)


@pytest.fixture
def quiet_worker(monkeypatch):
    # The worker installs SIGINT/SIGTERM handlers for a graceful stop; not inside the test process.
    monkeypatch.setattr(Worker, "configure_signals", lambda self: None)


# transaction=True: the worker closes and reopens its connection between tasks, as in production.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("quiet_worker")
def test_the_worker_runs_a_due_daily_run_and_books_the_next() -> None:
    lic = licence(obtained_on=dt.date(2010, 3, 1), on=dt.date(2024, 6, 1))
    services.record_event(
        lic,
        "offence",
        offence("2023-12-20", "2024-01-10", 1, "C3"),
        source="feed",
        sender="ANTAI",
        source_ref="W-1",
        on=dt.date(2024, 6, 1),
    )
    assert Projection.objects.get(licence=lic).next_change_on == dt.date(2024, 7, 10)
    # Last night's run, not done yet (the worker was stopped): due now.
    due = daily_run.using(run_after=dt.datetime(2024, 7, 10, 22, 5, tzinfo=UTC)).enqueue("2024-07-10")
    out = io.StringIO()
    call_command("worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", stdout=out)
    assert "daily run already booked for 2024-07-11 00:05 CEST" in out.getvalue()
    row = DBTaskResult.objects.get(id=due.id)
    assert row.status == TaskResultStatus.SUCCESSFUL, row.traceback
    assert row.return_value["licences"] == 1
    assert row.return_value["kinds"] == {"one_point_restoration": 1}
    projection = Projection.objects.get(licence=lic)
    assert (projection.balance, projection.as_of) == (12, dt.date(2024, 7, 10))
    # The run booked the next one, for the coming 00:05 Paris time, and only one.
    pending = list(pending_daily_runs())
    assert len(pending) == 1
    assert pending[0].run_after.astimezone(PARIS).time() == dt.time(0, 5)
    assert pending[0].run_after > row.finished_at


# transaction=True: the worker closes and reopens its connection between tasks, as in production.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("quiet_worker")
def test_the_worker_books_the_first_run_when_none_is_pending() -> None:
    out = io.StringIO()
    call_command("worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", stdout=out)
    assert "daily run booked for " in out.getvalue()
    assert pending_daily_runs().count() == 1
    call_command("worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", stdout=out)
    assert pending_daily_runs().count() == 1


@pytest.mark.django_db
def test_a_failed_run_still_books_the_next(monkeypatch) -> None:
    def broken(on, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr("permis.registry.tasks.run_daily", broken)
    with pytest.raises(RuntimeError):
        daily_run.call("2024-07-10")
    assert pending_daily_runs().count() == 1
