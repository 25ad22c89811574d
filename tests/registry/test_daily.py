"""The daily run: exactly the licences due, the same rows as a refresh, catch-up = each day, crash and restart."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from permis.registry import services
from permis.registry.models import Event, Licence, Movement, Notice, Projection
from permis.registry.services import daily

from .factories import licence, offence

pytestmark = pytest.mark.django_db

START = dt.date(2024, 7, 1)
DAYS = 30
REGISTERED = dt.date(2024, 6, 1)


def _population() -> dict[str, list[int]]:
    """Licences whose changes fall due on every day of July 2024, and licences with nothing due then."""
    groups: dict[str, list[int]] = {"one_point": [], "probation": [], "probation_end": [], "idle": []}
    for k in range(DAYS):
        lic = licence(obtained_on=dt.date(2010, 3, 1), on=REGISTERED)
        final = dt.date(2024, 1, 1) + dt.timedelta(days=k)  # one point back six months later, in July
        services.record_event(
            lic,
            "offence",
            offence((final - dt.timedelta(days=20)).isoformat(), final.isoformat(), 1, "C3"),
            source="feed",
            sender="ANTAI",
            source_ref=f"D-{k}",
            on=REGISTERED,
        )
        groups["one_point"].append(lic.pk)
    for k in range(0, DAYS, 3):
        groups["probation"].append(licence(obtained_on=dt.date(2023, 7, 1 + k), on=REGISTERED).pk)
        groups["probation_end"].append(licence(obtained_on=dt.date(2021, 7, 1 + k), on=REGISTERED).pk)
    for k in range(5):
        lic = licence(obtained_on=dt.date(2012, 5, 1), on=REGISTERED)
        services.record_event(
            lic,
            "offence",
            offence("2024-02-01", "2024-03-01", 3),
            source="feed",
            sender="ANTAI",
            source_ref=f"I-{k}",
            on=REGISTERED,
        )
        groups["idle"].append(lic.pk)
    # One more: an offence later cancelled, with a two-day-apart one-point offence.
    lic = licence(obtained_on=dt.date(2011, 1, 1), on=REGISTERED)
    first = services.record_event(
        lic,
        "offence",
        offence("2023-12-20", "2024-01-05", 1, "C3"),
        source="feed",
        sender="ANTAI",
        source_ref="C-1",
        on=REGISTERED,
    )
    services.record_event(
        lic,
        "offence",
        offence("2024-01-01", "2024-01-07", 2),
        source="feed",
        sender="ANTAI",
        source_ref="C-2",
        on=REGISTERED,
    )
    services.record_event(
        lic,
        "offence_cancelled",
        {"offence": f"e{first.event.seq}", "on": "2024-05-02"},
        source="feed",
        sender="ANTAI",
        source_ref="C-3",
        on=REGISTERED,
    )
    groups["one_point"].append(lic.pk)
    return groups


def _state(as_of: bool = True) -> dict:
    """Every derived row of the file, without the timestamps.

    A projection's `as_of` is the day it was last brought up to date: a licence with nothing due between its
    last change and today keeps the day of that change, so a catch-up and a day-by-day run differ there only.
    """
    fields = [f for f in services.core.PROJECTION_FIELDS if as_of or f != "as_of"]
    return {
        "movements": sorted(
            Movement.objects.values_list(
                "licence_id",
                "position",
                "on",
                "kind",
                "change",
                "balance",
                "raw_balance",
                "cap",
                "cause",
                "basis",
            )
        ),
        "notices": sorted(Notice.objects.values_list("licence_id", "code", "cause", "due_on", "status")),
        "projections": sorted(Projection.objects.values_list("licence_id", *fields)),
    }


class _Rollback(Exception):
    pass


def _state_after(run, as_of: bool = True) -> dict:
    """The file's state after `run()`, then undone (so that several runs start from the same file)."""
    try:
        with transaction.atomic():
            run()
            state = _state(as_of)
            raise _Rollback
    except _Rollback:
        pass
    return state


def test_catching_up_thirty_days_is_running_each_day() -> None:
    _population()
    before = _state()

    def each_day() -> None:
        for offset in range(DAYS):
            daily.run_daily(START + dt.timedelta(days=offset), batch_size=7)

    def catch_up() -> None:
        summary = daily.run_daily(START + dt.timedelta(days=DAYS - 1), batch_size=7)
        assert summary.licences > 40 and summary.changes >= summary.licences

    day_by_day = _state_after(each_day, as_of=False)
    at_once = _state_after(catch_up, as_of=False)
    assert day_by_day == at_once
    assert day_by_day != _state(as_of=False)
    assert _state() == before


def test_the_rows_are_those_a_refresh_writes() -> None:
    groups = _population()
    end = START + dt.timedelta(days=DAYS - 1)

    def refreshed() -> None:
        for licence_id in Projection.objects.filter(next_change_on__lte=end).values_list(
            "licence_id", flat=True
        ):
            services.refresh(licence_id, end)

    expected = _state_after(refreshed)
    summary = daily.run_daily(end)
    assert _state() == expected
    kinds = summary.kinds
    assert kinds["one_point_restoration"] >= len(groups["one_point"]) - 1
    assert kinds["probation_increment"] == len(groups["probation"])
    assert kinds["probation_end"] == len(groups["probation_end"])
    assert summary.letters == Notice.objects.filter(due_on__gte=START).count() > 0


def test_only_the_licences_due_are_touched() -> None:
    groups = _population()
    on = START + dt.timedelta(days=9)
    due = set(Projection.objects.filter(next_change_on__lte=on).values_list("licence_id", flat=True))
    assert due and len(due) < Projection.objects.count()
    stamps = dict(Projection.objects.values_list("licence_id", "updated_at"))
    summary = daily.run_daily(on)
    assert summary.licences == len(due)
    after = dict(Projection.objects.values_list("licence_id", "updated_at"))
    assert {licence_id for licence_id in after if after[licence_id] != stamps[licence_id]} == due
    assert not due & set(groups["idle"])
    # Nothing is due any more on that day: a second run does nothing.
    again = daily.run_daily(on)
    assert (again.licences, again.changes, again.letters) == (0, 0, 0)
    assert dict(Projection.objects.values_list("licence_id", "updated_at")) == after


def test_a_run_killed_after_its_first_batch_ends_in_the_same_state_when_started_again(monkeypatch) -> None:
    _population()
    end = START + dt.timedelta(days=DAYS - 1)
    clean = _state_after(lambda: daily.run_daily(end, batch_size=5))

    real = daily._apply_batch
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            real(*args, **kwargs)  # the batch's writes are done, the commit never comes
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(daily, "_apply_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        daily.run_daily(end, batch_size=5)
    # The first batch was committed, the second rolled back, nothing else was done.
    assert Projection.objects.filter(as_of=end).count() == 5
    monkeypatch.setattr(daily, "_apply_batch", real)
    restarted = daily.run_daily(end, batch_size=5)
    assert restarted.licences > 5
    assert _state() == clean


def test_a_licence_whose_history_the_engine_refuses_is_named_and_the_others_are_brought_up_to_date(
    capsys,
) -> None:
    """Bulk work reports per record and goes on: one stored history the engine cannot read (a row changed by
    hand) stopped the whole run, every night, with a traceback that named no licence."""
    groups = _population()
    on = START + dt.timedelta(days=9)
    due = list(Projection.objects.filter(next_change_on__lte=on).values_list("licence_id", flat=True))
    broken = groups["one_point"][0]
    assert broken in due
    event = Event.objects.get(licence_id=broken, seq=1)
    Event.objects.filter(pk=event.pk).update(data={k: v for k, v in event.data.items() if k != "final_on"})
    before = Projection.objects.get(licence_id=broken).as_of
    summary = daily.run_daily(on, batch_size=4)
    number = Licence.objects.get(pk=broken).number
    assert [n for n, _problems in summary.failed] == [number]
    assert "final_on" in " ".join(summary.failed[0][1])
    assert summary.licences == len(due) - 1
    assert Projection.objects.get(licence_id=broken).as_of == before  # left as it was, still due
    assert set(Projection.objects.filter(as_of=on).values_list("licence_id", flat=True)) == set(due) - {
        broken
    }
    with pytest.raises(CommandError) as raised:
        call_command("daily", "--date", on.isoformat(), "--quiet")
    assert raised.value.returncode == 1 and "1 licence(s)" in str(raised.value)
    assert f"licence {number}: left as it was" in capsys.readouterr().err


def test_the_command_prints_a_summary(capsys) -> None:
    _population()
    call_command("daily", "--date", "2024-07-10", "--quiet")
    out = capsys.readouterr().out
    assert out.startswith("daily run of 2024-07-10: ")
    assert "licences" in out and "changes" in out and "letters" in out


def test_a_bad_date_is_refused() -> None:
    with pytest.raises(CommandError, match="not a date"):
        call_command("daily", "--date", "2024-13-01")


def test_a_day_after_today_is_refused_and_nothing_is_written() -> None:
    _population()
    clean = _state()
    later = services.today() + dt.timedelta(days=1)
    with pytest.raises(CommandError, match=f"--date: {later.isoformat()} is after today") as refused:
        call_command("daily", "--date", later.isoformat(), "--quiet")
    assert refused.value.returncode == 2
    assert _state() == clean


def test_a_bad_date_exits_2_from_the_command_line(tmp_path: Path) -> None:
    permis = Path(sys.executable).with_name("permis")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "PERMIS_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [str(permis), "daily", "--date", "yesterday"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 2
    assert "'yesterday' is not a date (expected YYYY-MM-DD)" in result.stderr


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_the_batches() -> None:
    from permis.registry.services import integrity

    _population()
    end = START + dt.timedelta(days=DAYS - 1)
    due = set(Projection.objects.filter(next_change_on__lte=end).values_list("licence_id", flat=True))
    summary = daily.run_daily(end, batch_size=4, jobs=2)
    assert summary.licences == len(due) and summary.batches == -(-len(due) // 4)
    assert not Projection.objects.filter(next_change_on__lte=end).exists()
    assert set(Projection.objects.filter(as_of=end).values_list("licence_id", flat=True)) == due
    assert integrity.verify().discrepancies == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_daily_run_killed_by_the_system_resumes_where_it_stopped() -> None:
    """`permis daily` is killed (SIGKILL) after a few batches, then run again: the file ends as if run once."""
    import signal
    import time

    from django.db import connection

    from permis.registry.services import integrity

    for _ in range(4):
        _population()
    end = START + dt.timedelta(days=DAYS - 1)
    due = set(Projection.objects.filter(next_change_on__lte=end).values_list("licence_id", flat=True))
    assert len(due) > 100
    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    url = f"postgres://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    command = [str(Path(sys.executable).with_name("permis")), "daily", "--date", end.isoformat(), "--quiet"]
    process = subprocess.Popen([*command, "--batch-size", "1", "--jobs", "1"], env=env)
    try:
        deadline = time.monotonic() + 60
        while Projection.objects.filter(as_of=end).count() < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    done = Projection.objects.filter(as_of=end).count()
    assert 5 <= done < len(due)
    again = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert f": {len(due) - done:,} licences" in again.stdout
    assert set(Projection.objects.filter(as_of=end).values_list("licence_id", flat=True)) == due
    assert not Projection.objects.filter(next_change_on__lte=end).exists()
    assert integrity.verify().discrepancies == []
