"""The CLI contract of shared/spec/ENGINE-IO.md: `permis rules evaluate|explain`.

Output fields and their types, one or several `--on`, `--known-at`, standard input, the French
explanation, exit codes and error lines. Run as a subprocess (what lawyers and partners run) and
in-process through `main(argv)` (fast, and it shows the errors a subprocess would hide).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from permis.rules.cli import main

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

# The example of ENGINE-IO.md ("Input") and its output on 2024-10-16 ("Output"), verbatim.
EXAMPLE_INPUT: dict[str, Any] = {
    "licence": {
        "obtained_on": "2024-04-01",
        "route": "traditional",
        "complementary_training_on": None,
        "regained": False,
    },
    "events": [
        {
            "kind": "offence",
            "id": "I1",
            "committed_on": "2024-07-01",
            "final_on": "2024-07-10",
            "points": 3,
            "class": "C4",
        },
        {
            "kind": "course",
            "id": "S1",
            "first_day": "2024-10-14",
            "last_day": "2024-10-15",
            "type": "mandatory",
        },
    ],
    "options": {"lt5_basis": "final_on"},
}

EXAMPLE_OUTPUT: dict[str, Any] = {
    "on": "2024-10-16",
    "balance": 6,
    "raw_balance": 6,
    "cap": 6,
    "status": "valid",
    "suspended": False,
    "probation": {"start": "2024-04-01", "end": "2027-04-01", "increments_open": False},
    "movements": [
        {
            "on": "2024-04-01",
            "change": 6,
            "balance": 6,
            "kind": "initial",
            "cause": None,
            "basis": "Code de la route, art. L223-1 et R223-1",
        },
        {
            "on": "2024-07-10",
            "change": -3,
            "balance": 3,
            "kind": "withdrawal",
            "cause": "I1",
            "basis": "Code de la route, art. L223-1 et L223-2",
        },
        {
            "on": "2024-10-16",
            "change": 3,
            "balance": 6,
            "kind": "course_credit",
            "cause": "S1",
            "basis": "Code de la route, art. L223-6 al. 4 et R223-8",
        },
    ],
    "upcoming": [
        {
            "on": "2027-04-01",
            "change": 0,
            "balance": 6,
            "kind": "probation_end",
            "cause": None,
            "basis": "Code de la route, art. R223-1",
            "unless": None,
        },
        {
            "on": "2027-07-10",
            "change": 6,
            "balance": 12,
            "kind": "full_restoration",
            "cause": None,
            "basis": "Code de la route, art. L223-6 al. 1 et 2",
            "unless": "an offence committed before 2027-07-10",
        },
    ],
    "letters": [
        {"code": "48N", "on": "2024-07-10", "cause": "I1"},
        {"code": "47", "on": "2024-10-16", "cause": "S1"},
    ],
    "next_creditable_course_from": None,
}

TOP_FIELDS = {
    "on": str,
    "balance": int,
    "raw_balance": int,
    "cap": int,
    "status": str,
    "suspended": bool,
    "probation": (dict, type(None)),
    "movements": list,
    "upcoming": list,
    "letters": list,
    "next_creditable_course_from": (str, type(None)),
}
MOVEMENT_FIELDS = {"on", "change", "balance", "kind", "cause", "basis"}
UPCOMING_FIELDS = MOVEMENT_FIELDS | {"unless"}
LETTER_FIELDS = {"code", "on", "cause"}
PROBATION_FIELDS = {"start", "end", "increments_open"}
STATUSES = {"valid", "zero_balance", "invalidated", "annulled"}
MOVEMENT_KINDS = {
    "initial",
    "withdrawal",
    "withdrawal_cancelled",
    "one_point_restoration",
    "full_restoration",
    "ten_year_restoration",
    "probation_increment",
    "probation_end",
    "course_credit",
    "invalidation",
    "annulment",
    "new_licence",
}
LETTER_CODES = {"48", "48M", "48N", "48SI", "46", "47"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# A history that goes through most movement kinds: offences, a 1-point restoration, a course,
# a cancellation, a suspension, a zero balance, the 48SI, an annulment and a new licence.
RICH_HISTORY: dict[str, Any] = {
    "licence": {"obtained_on": "2008-05-10", "route": "traditional"},
    "events": [
        {
            "kind": "offence",
            "id": "I1",
            "committed_on": "2015-02-10",
            "final_on": "2015-02-25",
            "speeding": {"limit_kmh": 90, "retained_kmh": 101},
        },
        {
            "kind": "offence",
            "id": "I2",
            "committed_on": "2016-06-01",
            "final_on": "2016-06-20",
            "natinf": "23800",
        },
        {
            "kind": "offence",
            "id": "I3",
            "committed_on": "2016-09-01",
            "final_on": "2016-09-10",
            "points": 4,
            "class": "C4",
            "how": "majoree_title",
            "recorded_on": "2016-09-15",
        },
        {"kind": "offence_cancelled", "id": "A1", "offence": "I3", "on": "2016-10-01"},
        {
            "kind": "course",
            "id": "S1",
            "first_day": "2017-01-09",
            "last_day": "2017-01-10",
            "type": "voluntary",
        },
        {"kind": "suspension", "id": "P1", "from": "2017-03-01", "to": "2017-06-01"},
        {
            "kind": "offence",
            "id": "I4",
            "committed_on": "2017-05-01",
            "final_on": "2017-05-20",
            "points": 6,
            "class": "D",
            "how": "conviction",
            "decided_on": "2017-05-25",
        },
        {
            "kind": "offence",
            "id": "I5",
            "committed_on": "2017-07-01",
            "final_on": "2017-07-15",
            "points": 6,
            "class": "C4",
        },
        {"kind": "invalidation_notified", "id": "V1", "on": "2017-09-01"},
        {"kind": "licence_surrendered", "id": "R1", "on": "2017-09-05"},
        {"kind": "new_licence", "id": "L1", "obtained_on": "2018-06-01", "route": "traditional"},
    ],
}


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "permis.rules.cli", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def run_main(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse exits on a bad command line
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def example_file(tmp_path: Path) -> Path:
    path = tmp_path / "history.json"
    path.write_text(json.dumps(EXAMPLE_INPUT), encoding="utf-8")
    return path


@pytest.fixture
def rich_file(tmp_path: Path) -> Path:
    path = tmp_path / "rich.json"
    path.write_text(json.dumps(RICH_HISTORY), encoding="utf-8")
    return path


def check_types(out: Any) -> None:
    """Every field of ENGINE-IO.md "Output", with its type, and nothing else."""
    assert isinstance(out, dict)
    assert set(out) == set(TOP_FIELDS), sorted(set(out) ^ set(TOP_FIELDS))
    for name, kind in TOP_FIELDS.items():
        assert isinstance(out[name], kind), (name, out[name])
    for name in ("balance", "raw_balance", "cap"):
        assert not isinstance(out[name], bool), name
    assert ISO_DATE.match(out["on"])
    assert out["status"] in STATUSES
    if out["probation"] is not None:
        assert set(out["probation"]) == PROBATION_FIELDS
        assert ISO_DATE.match(out["probation"]["start"])
        assert ISO_DATE.match(out["probation"]["end"])
        assert isinstance(out["probation"]["increments_open"], bool)
    if out["next_creditable_course_from"] is not None:
        assert ISO_DATE.match(out["next_creditable_course_from"])
    for fields, changes in ((MOVEMENT_FIELDS, out["movements"]), (UPCOMING_FIELDS, out["upcoming"])):
        for change in changes:
            assert set(change) == fields, (sorted(set(change) ^ fields), change)
            assert ISO_DATE.match(change["on"]), change
            for name in ("change", "balance"):
                assert isinstance(change[name], int) and not isinstance(change[name], bool), change
            assert change["kind"] in MOVEMENT_KINDS, change
            assert change["cause"] is None or isinstance(change["cause"], str), change
            assert isinstance(change["basis"], str) and change["basis"], change
            if "unless" in change:
                assert change["unless"] is None or isinstance(change["unless"], str), change
    for letter in out["letters"]:
        assert set(letter) == LETTER_FIELDS, letter
        assert letter["code"] in LETTER_CODES, letter
        assert ISO_DATE.match(letter["on"]), letter
        assert letter["cause"] is None or isinstance(letter["cause"], str), letter


# --- the ENGINE-IO.md example ---------------------------------------------------------------------


def test_the_engine_io_example_gives_exactly_the_documented_output(example_file: Path) -> None:
    result = run_cli("evaluate", str(example_file), "--on", "2024-10-16")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == EXAMPLE_OUTPUT


def test_the_engine_io_example_gives_the_documented_output_in_process(example_file: Path) -> None:
    code, out, err = run_main("evaluate", str(example_file), "--on", "2024-10-16")
    assert code == 0, err
    assert json.loads(out) == EXAMPLE_OUTPUT
    assert err == ""


def test_the_documented_output_has_every_field_with_its_type() -> None:
    check_types(EXAMPLE_OUTPUT)  # the contract's own example passes the checker used below


# --- one or several --on ----------------------------------------------------------------------------


def test_one_on_prints_one_object(example_file: Path) -> None:
    code, out, _ = run_main("evaluate", str(example_file), "--on", "2025-01-01")
    assert code == 0
    value = json.loads(out)
    assert isinstance(value, dict)
    check_types(value)
    assert value["on"] == "2025-01-01"


def test_several_on_print_an_array_in_the_order_given(example_file: Path) -> None:
    dates = ["2027-08-01", "2024-10-16", "2024-05-01", "2027-04-01"]
    args = [a for d in dates for a in ("--on", d)]
    result = run_cli("evaluate", str(example_file), *args)
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)
    assert isinstance(value, list)
    assert [item["on"] for item in value] == dates
    for item in value:
        check_types(item)
    assert value[1] == EXAMPLE_OUTPUT
    # Each element is what a single --on gives.
    for d, item in zip(dates, value):
        code, out, _ = run_main("evaluate", str(example_file), "--on", d)
        assert code == 0
        assert json.loads(out) == item


def test_the_same_date_twice_gives_it_twice(example_file: Path) -> None:
    code, out, _ = run_main("evaluate", str(example_file), "--on", "2024-10-16", "--on", "2024-10-16")
    assert code == 0
    assert json.loads(out) == [EXAMPLE_OUTPUT, EXAMPLE_OUTPUT]


@pytest.mark.parametrize(
    "on",
    [
        "2008-05-10",
        "2015-03-01",
        "2016-09-12",
        "2017-01-11",
        "2017-04-01",
        "2017-08-01",
        "2017-09-02",
        "2018-06-01",
        "2019-06-01",
        "2030-01-01",
    ],
)
def test_every_field_has_its_type_on_a_rich_history(rich_file: Path, on: str) -> None:
    code, out, err = run_main("evaluate", str(rich_file), "--on", on)
    assert code == 0, err
    value = json.loads(out)
    check_types(value)
    assert value["on"] == on


def test_a_suspension_shows_as_suspended_and_nothing_else(rich_file: Path) -> None:
    code, out, _ = run_main("evaluate", str(rich_file), "--on", "2017-04-01", "--on", "2017-06-02")
    assert code == 0
    inside, after = json.loads(out)
    assert inside["suspended"] is True
    assert after["suspended"] is False


def test_the_rich_history_goes_through_the_expected_movement_kinds(rich_file: Path) -> None:
    code, out, _ = run_main("evaluate", str(rich_file), "--on", "2030-01-01")
    assert code == 0
    kinds = {m["kind"] for m in json.loads(out)["movements"]}
    for kind in (
        "initial",
        "withdrawal",
        "withdrawal_cancelled",
        "one_point_restoration",
        "course_credit",
        "invalidation",
        "new_licence",
        "probation_increment",
    ):
        assert kind in kinds, kinds


def test_the_output_is_json_on_one_document_with_nothing_else(example_file: Path) -> None:
    result = run_cli("evaluate", str(example_file), "--on", "2024-10-16")
    assert result.returncode == 0
    assert result.stderr == ""
    json.loads(result.stdout)  # nothing but the document on stdout


# --- standard input -----------------------------------------------------------------------------------


def test_a_dash_reads_the_history_from_standard_input() -> None:
    result = run_cli("evaluate", "-", "--on", "2024-10-16", stdin=json.dumps(EXAMPLE_INPUT))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == EXAMPLE_OUTPUT


def test_a_dash_reads_standard_input_in_process() -> None:
    code, out, err = run_main("evaluate", "-", "--on", "2024-10-16", stdin=json.dumps(EXAMPLE_INPUT))
    assert code == 0, err
    assert json.loads(out) == EXAMPLE_OUTPUT


def test_bad_input_on_standard_input_exits_2() -> None:
    result = run_cli("evaluate", "-", "--on", "2024-10-16", stdin="{not json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


# --- --known-at -----------------------------------------------------------------------------------------

KNOWN_AT_HISTORY: dict[str, Any] = {
    "licence": {"obtained_on": "2010-05-10"},
    "events": [
        # E01: phone (3, C4) paid 2022-03-20, recorded in the file on 2022-04-02.
        {
            "kind": "offence",
            "id": "I1",
            "committed_on": "2022-03-01",
            "final_on": "2022-03-20",
            "points": 3,
            "class": "C4",
            "recorded_on": "2022-04-02",
        },
        # An offence without recorded_on counts as known.
        {
            "kind": "offence",
            "id": "I2",
            "committed_on": "2021-01-05",
            "final_on": "2021-02-01",
            "points": 1,
            "class": "C3",
        },
        # Recorded later: a course, and the cancellation of I1.
        {
            "kind": "course",
            "id": "S1",
            "first_day": "2022-05-02",
            "last_day": "2022-05-03",
            "type": "voluntary",
            "recorded_on": "2022-06-01",
        },
    ],
}


@pytest.fixture
def known_at_file(tmp_path: Path) -> Path:
    path = tmp_path / "known.json"
    path.write_text(json.dumps(KNOWN_AT_HISTORY), encoding="utf-8")
    return path


def evaluate_known(path: Path, on: str, known_at: str | None) -> dict[str, Any]:
    args = ["evaluate", str(path), "--on", on] + (["--known-at", known_at] if known_at else [])
    code, out, err = run_main(*args)
    assert code == 0, err
    value = json.loads(out)
    check_types(value)
    return value


def test_known_at_leaves_out_the_events_recorded_after_it(known_at_file: Path) -> None:
    before = evaluate_known(known_at_file, "2022-07-01", "2022-04-01")
    assert before["balance"] == 12  # I2 restored 2021-08-01; I1 not yet known
    assert [m["cause"] for m in before["movements"] if m["kind"] == "withdrawal"] == ["I2"]


def test_known_at_keeps_the_events_recorded_on_that_day(known_at_file: Path) -> None:
    known = evaluate_known(known_at_file, "2022-07-01", "2022-04-02")
    assert known["balance"] == 9
    assert "S1" not in {m["cause"] for m in known["movements"]}


def test_known_at_after_every_record_is_the_full_evaluation(known_at_file: Path) -> None:
    full = evaluate_known(known_at_file, "2022-07-01", None)
    assert full["balance"] == 12  # 9 + the course (capped)
    assert evaluate_known(known_at_file, "2022-07-01", "2030-01-01") == full


def test_known_at_works_with_several_on_and_through_a_subprocess(known_at_file: Path) -> None:
    result = run_cli(
        "evaluate", str(known_at_file), "--on", "2022-07-01", "--on", "2022-03-25", "--known-at", "2022-04-01"
    )
    assert result.returncode == 0, result.stderr
    first, second = json.loads(result.stdout)
    assert (first["on"], first["balance"]) == ("2022-07-01", 12)
    assert second["on"] == "2022-03-25"


def test_known_at_drops_a_cancellation_of_an_offence_not_yet_known(tmp_path: Path) -> None:
    history = copy.deepcopy(KNOWN_AT_HISTORY)
    history["events"].append({"kind": "offence_cancelled", "id": "A1", "offence": "I1", "on": "2022-05-01"})
    path = tmp_path / "h.json"
    path.write_text(json.dumps(history), encoding="utf-8")
    # Known on 2022-04-01: I1 is not known, and its cancellation (no recorded_on) is not an error.
    assert evaluate_known(path, "2022-07-01", "2022-04-01")["balance"] == 12


# --- explain ----------------------------------------------------------------------------------------------


def test_explain_prints_french_text_that_cites_the_articles(example_file: Path) -> None:
    result = run_cli("explain", str(example_file), "--on", "2024-10-16")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.strip()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert "points" in text
    assert re.search(r"\bart(icle)?s?\.? ?[LR]\d{3}-\d", text), text
    for article in ("L223-1", "L223-6", "R223-8"):
        assert article in text, article
    # French words, dates of the movements.
    assert re.search(r"\b(le|la|les|du|des|au|permis|solde)\b", text), text
    assert "I1" in text and "S1" in text


def test_explain_in_process_is_the_same_text(example_file: Path) -> None:
    code, out, err = run_main("explain", str(example_file), "--on", "2024-10-16")
    assert code == 0, err
    assert out == run_cli("explain", str(example_file), "--on", "2024-10-16").stdout


def test_explain_reads_standard_input() -> None:
    code, out, err = run_main("explain", "-", "--on", "2024-10-16", stdin=json.dumps(EXAMPLE_INPUT))
    assert code == 0, err
    assert "L223-1" in out


def test_explain_rejects_bad_input_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    bad = copy.deepcopy(EXAMPLE_INPUT)
    bad["events"][0]["final_on"] = "2024-06-01"  # before committed_on
    path.write_text(json.dumps(bad), encoding="utf-8")
    result = run_cli("explain", str(path), "--on", "2024-10-16")
    assert result.returncode == 2
    assert "events[0]" in result.stderr
    assert "Traceback" not in result.stderr


# --- exit codes and errors ----------------------------------------------------------------------------------


def test_bad_input_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path: Path) -> None:
    bad = copy.deepcopy(EXAMPLE_INPUT)
    bad["events"][0]["final_on"] = "2024-06-31"
    bad["events"][1]["last_day"] = "2024-10-13"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    result = run_cli("evaluate", str(path), "--on", "2024-10-16")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    assert "events[0].final_on" in lines[0] or "events[0].final_on" in lines[1]
    assert any("events[1].last_day" in line for line in lines)


def test_bad_input_in_process_exits_2_with_the_same_lines(tmp_path: Path) -> None:
    bad = copy.deepcopy(EXAMPLE_INPUT)
    bad["events"][1]["type"] = "recreational"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    code, out, err = run_main("evaluate", str(path), "--on", "2024-10-16")
    assert code == 2
    assert out == ""
    assert [line for line in err.splitlines() if line.strip()] == [
        line
        for line in run_cli("evaluate", str(path), "--on", "2024-10-16").stderr.splitlines()
        if line.strip()
    ]
    assert "events[1].type" in err


def test_a_missing_file_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = run_cli("evaluate", str(tmp_path / "nowhere.json"), "--on", "2024-10-16")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


@pytest.mark.parametrize("on", ["2024-13-01", "2024-02-30", "16/10/2024", "tomorrow", ""])
def test_a_malformed_on_date_exits_2(example_file: Path, on: str) -> None:
    code, out, err = run_main("evaluate", str(example_file), "--on", on)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.strip()


def test_a_malformed_known_at_date_exits_2(example_file: Path) -> None:
    code, _, err = run_main("evaluate", str(example_file), "--on", "2024-10-16", "--known-at", "2024-1-1")
    assert code == 2
    assert err.strip()


def test_evaluate_without_on_exits_2(example_file: Path) -> None:
    result = run_cli("evaluate", str(example_file))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_an_unknown_command_exits_2(example_file: Path) -> None:
    result = run_cli("simulate", str(example_file), "--on", "2024-10-16")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_document_that_is_not_an_object_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    code, out, err = run_main("evaluate", str(path), "--on", "2024-10-16")
    assert code == 2
    assert out == ""
    assert err.strip()


def test_success_exits_0_and_writes_nothing_on_stderr(rich_file: Path) -> None:
    result = run_cli("evaluate", str(rich_file), "--on", "2020-01-01")
    assert result.returncode == 0
    assert result.stderr == ""


def test_the_console_script_runs_the_same_cli(example_file: Path) -> None:
    """`permis rules evaluate` (the console script, or its entry point when not installed) is this CLI."""
    script = Path(sys.executable).parent / "permis"
    if script.exists():
        command = [str(script)]
    else:  # not installed with pip install -e .: call the script's entry point (pyproject: permis.cli:main)
        command = [sys.executable, "-c", "import sys; from permis.cli import main; sys.exit(main())"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [*command, "rules", "evaluate", str(example_file), "--on", "2024-10-16"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == EXAMPLE_OUTPUT
    bad = subprocess.run(
        [*command, "rules", "evaluate", "-", "--on", "2024-10-16"],
        input="{",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_the_evaluation_does_not_depend_on_today(example_file: Path) -> None:
    """The CLI reads no clock: the same input gives the same bytes (ARCHITECTURE.md rule 1)."""
    first = run_cli("evaluate", str(example_file), "--on", "2024-10-16", "--on", str(date(2031, 1, 1)))
    second = run_cli("evaluate", str(example_file), "--on", "2024-10-16", "--on", str(date(2031, 1, 1)))
    assert first.returncode == 0
    assert first.stdout == second.stdout


@pytest.mark.parametrize("on", ["9999-12-31", "2200-01-01", "0001-01-01", "1992-06-30", "2015-01-01"])
def test_a_far_or_early_on_date_exits_0_or_2_without_a_traceback(example_file: Path, on: str) -> None:
    code, out, err = run_main("evaluate", str(example_file), "--on", on)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert out == ""
        assert err.strip()
    else:
        check_types(json.loads(out))


def test_an_on_date_before_the_licence_exits_2_naming_on(example_file: Path) -> None:
    code, out, err = run_main("evaluate", str(example_file), "--on", "2024-03-31")
    assert code == 2
    assert out == ""
    assert "--on" in err
