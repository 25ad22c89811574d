"""Bad input is rejected with one clear message per problem naming `events[i].field` (exit 2 for the CLI).

The problem classes of the issue: malformed JSON, unknown kind or field, missing or malformed dates, final
date before commission date, last day of a course before its first day, both points and speeding given,
unknown NATINF, duplicate ids, a cancellation of an unknown offence, unknown options. Then fuzzing: random
JSON and mutations of valid histories never raise anything but InputError, and the CLI never exits with
anything but 0 or 2, never with a traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permis.rules import InputError, evaluate, evaluation_to_json, parse_history
from permis.rules.cli import main

try:
    from tests.rules import strategies as gen
except ImportError:  # tests/ is not a package: pytest put tests/rules on sys.path
    import strategies as gen  # type: ignore[no-redef]

ON = "2024-10-16"


def valid() -> dict[str, Any]:
    """A valid history (the ENGINE-IO.md example with a few more events) that each test breaks once."""
    return {
        "licence": {"obtained_on": "2015-04-01", "route": "traditional"},
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
                "type": "voluntary",
            },
            {
                "kind": "offence",
                "id": "I2",
                "committed_on": "2024-02-01",
                "final_on": "2024-03-01",
                "speeding": {"limit_kmh": 80, "retained_kmh": 93},
            },
            {
                "kind": "offence",
                "id": "I3",
                "committed_on": "2023-05-01",
                "final_on": "2023-05-20",
                "natinf": "23800",
            },
            {"kind": "offence_cancelled", "id": "A1", "offence": "I3", "on": "2023-06-01"},
        ],
        "options": {"lt5_basis": "final_on"},
    }


def problems_of(data: Any) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_history(data)
    problems = caught.value.problems
    assert isinstance(problems, list)
    assert problems, "an InputError must list its problems"
    for problem in problems:
        assert isinstance(problem, str)
        assert "\n" not in problem, problem
        assert problem.strip() == problem and problem, problem
    return problems


def assert_one_problem_naming(data: Any, path: str) -> str:
    """Exactly one problem, and it names `path` (e.g. "events[1].final_on")."""
    problems = problems_of(data)
    assert len(problems) == 1, problems
    assert path in problems[0], (path, problems)
    # The path is the subject of the sentence, not a word inside it.
    assert problems[0].startswith(path), problems
    return problems[0]


def run_main(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def cli_lines(data_text: str) -> tuple[int, list[str], str]:
    code, out, err = run_main(["evaluate", "-", "--on", ON], stdin=data_text)
    assert "Traceback" not in err
    return code, [line for line in err.splitlines() if line.strip()], out


def test_the_valid_history_is_valid() -> None:
    history = parse_history(valid())
    evaluation_to_json(evaluate(history, on=date(2024, 10, 16)))
    code, lines, out = cli_lines(json.dumps(valid()))
    assert code == 0, lines
    assert lines == []


# --- one test per problem class --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"licence": {"obtained_on": "2015-04-01"},}',
        "",
        "[",
        '{"licence": {"obtained_on": "2015-04-01"}} trailing',
        "\x00",
        "NaN",
    ],
)
def test_malformed_json_exits_2_with_one_line(text: str) -> None:
    code, lines, out = cli_lines(text)
    assert code == 2
    assert out == ""
    assert len(lines) == 1, lines


def test_malformed_json_in_a_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text('{"licence": {"obtained_on": "2015-04-01"}, "events": [}', encoding="utf-8")
    code, out, err = run_main(["evaluate", str(path), "--on", ON])
    assert code == 2
    assert out == ""
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


def test_a_file_that_is_not_utf8_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_bytes(b'{"licence": {"obtained_on": "2015-04-01", "route": "\xe9"}}')
    code, _, err = run_main(["evaluate", str(path), "--on", ON])
    assert code == 2
    assert "Traceback" not in err


def test_an_unknown_kind_names_the_event_and_its_kind() -> None:
    data = valid()
    data["events"][1]["kind"] = "stage"
    assert_one_problem_naming(data, "events[1].kind")


def test_a_missing_kind_names_the_event_and_its_kind() -> None:
    data = valid()
    del data["events"][1]["kind"]
    assert_one_problem_naming(data, "events[1].kind")


@pytest.mark.parametrize("kind", [["offence"], {"a": 1}, 3, None, True])
def test_a_kind_that_is_not_a_string_names_the_event_and_its_kind(kind: Any) -> None:
    data = valid()
    data["events"][1]["kind"] = kind
    assert_one_problem_naming(data, "events[1].kind")


def test_an_unknown_field_of_an_event_is_named() -> None:
    data = valid()
    data["events"][0]["colour"] = "red"
    assert_one_problem_naming(data, "events[0].colour")


def test_a_field_of_another_kind_is_an_unknown_field() -> None:
    data = valid()
    data["events"][1]["points"] = 2  # courses have no points
    assert_one_problem_naming(data, "events[1].points")


def test_an_unknown_field_of_the_licence_is_named() -> None:
    data = valid()
    data["licence"]["category"] = "B"
    assert_one_problem_naming(data, "licence.category")


def test_an_unknown_field_of_the_speeding_is_named() -> None:
    data = valid()
    data["events"][2]["speeding"]["measured_kmh"] = 99
    assert_one_problem_naming(data, "events[2].speeding.measured_kmh")


def test_an_unknown_top_level_field_is_reported() -> None:
    data = valid()
    data["holder"] = "Jean"
    problems = problems_of(data)
    assert len(problems) == 1, problems
    assert "holder" in problems[0]


@pytest.mark.parametrize(
    ("index", "field"),
    [(0, "committed_on"), (0, "final_on"), (1, "first_day"), (1, "last_day"), (4, "on")],
)
def test_a_missing_date_is_named(index: int, field: str) -> None:
    data = valid()
    del data["events"][index][field]
    assert_one_problem_naming(data, f"events[{index}].{field}")


def test_a_missing_licence_date_is_named() -> None:
    data = valid()
    del data["licence"]["obtained_on"]
    assert_one_problem_naming(data, "licence.obtained_on")


def test_a_missing_licence_is_named() -> None:
    data = valid()
    del data["licence"]
    assert_one_problem_naming(data, "licence")


MALFORMED_DATES = [
    "2024-02-30",
    "2024-13-01",
    "2024/07/10",
    "10/07/2024",
    "2024-7-10",
    "20240710",
    "",
    "2024-07-10T00:00:00",
    "yesterday",
    "2024-W28-3",
    20240710,
    2024.5,
    True,
    [2024, 7, 10],
    {"y": 2024},
    "0000-01-01",
    " 2024-07-10",
    "2024-07-10 ",
]


@pytest.mark.parametrize("value", MALFORMED_DATES, ids=repr)
def test_a_malformed_final_date_is_named(value: Any) -> None:
    data = valid()
    data["events"][0]["final_on"] = value
    assert_one_problem_naming(data, "events[0].final_on")


@pytest.mark.parametrize("value", MALFORMED_DATES, ids=repr)
def test_a_malformed_licence_date_is_named(value: Any) -> None:
    data = valid()
    data["licence"]["obtained_on"] = value
    problems = problems_of(data)
    assert problems[0].startswith("licence.obtained_on"), problems
    assert len(problems) == 1, problems


@pytest.mark.parametrize(
    ("index", "field"),
    [(0, "committed_on"), (0, "decided_on"), (0, "recorded_on"), (1, "first_day"), (4, "on")],
)
def test_a_malformed_date_of_any_field_is_named(index: int, field: str) -> None:
    data = valid()
    data["events"][index][field] = "2024-02-30"
    problems = problems_of(data)
    assert any(p.startswith(f"events[{index}].{field}") for p in problems), problems


@pytest.mark.parametrize("value", ["9999-12-31", "2999-01-01", "1800-01-01"])
def test_a_far_away_date_is_rejected_by_name_or_evaluated(value: str) -> None:
    data = valid()
    data["events"][0]["final_on"] = value
    data["events"][0]["committed_on"] = value
    try:
        history = parse_history(data)
    except InputError as error:
        assert error.problems[0].startswith("events[0]"), error.problems
        return
    evaluation_to_json(evaluate(history, on=date(2031, 1, 1)))


def test_a_final_date_before_the_commission_date_is_named() -> None:
    data = valid()
    data["events"][0]["final_on"] = "2024-06-30"
    message = assert_one_problem_naming(data, "events[0].final_on")
    assert "2024-06-30" in message


def test_a_final_date_on_the_commission_date_is_accepted() -> None:
    data = valid()
    data["events"][0]["final_on"] = data["events"][0]["committed_on"]
    parse_history(data)


def test_a_last_day_before_the_first_day_of_a_course_is_named() -> None:
    data = valid()
    data["events"][1]["last_day"] = "2024-10-13"
    message = assert_one_problem_naming(data, "events[1].last_day")
    assert "2024-10-13" in message


def test_both_points_and_speeding_are_named() -> None:
    data = valid()
    data["events"][2]["points"] = 1
    data["events"][2]["class"] = "C3"
    problems = problems_of(data)
    assert len(problems) == 1, problems
    assert problems[0].startswith(("events[2].points", "events[2].speeding")), problems


def test_both_points_and_natinf_are_named() -> None:
    data = valid()
    data["events"][0]["natinf"] = "23800"
    problems = problems_of(data)
    assert len(problems) == 1, problems
    assert problems[0].startswith(("events[0].points", "events[0].natinf")), problems


def test_an_offence_without_points_speeding_or_natinf_is_named() -> None:
    data = valid()
    del data["events"][0]["points"]
    del data["events"][0]["class"]
    problems = problems_of(data)
    assert len(problems) == 1, problems
    assert problems[0].startswith("events[0]"), problems


@pytest.mark.parametrize("code", ["99999999", "0", "abc", "", 123456789])
def test_an_unknown_natinf_is_named(code: Any) -> None:
    data = valid()
    data["events"][3]["natinf"] = code
    assert_one_problem_naming(data, "events[3].natinf")


def test_a_duplicate_id_names_the_second_event() -> None:
    data = valid()
    data["events"][1]["id"] = "I1"
    message = assert_one_problem_naming(data, "events[1].id")
    assert "I1" in message


def test_a_duplicate_id_of_another_kind_is_named() -> None:
    data = valid()
    data["events"].append({"kind": "suspension", "id": "S1", "from": "2024-01-01", "to": "2024-02-01"})
    assert_one_problem_naming(data, "events[5].id")


def test_a_cancellation_of_an_unknown_offence_is_named() -> None:
    data = valid()
    data["events"][4]["offence"] = "I9"
    message = assert_one_problem_naming(data, "events[4].offence")
    assert "I9" in message


def test_a_cancellation_of_a_course_is_named() -> None:
    data = valid()
    data["events"][4]["offence"] = "S1"
    assert_one_problem_naming(data, "events[4].offence")


def test_an_unknown_option_is_named() -> None:
    data = valid()
    data["options"]["lt5_rule"] = "final_on"
    assert_one_problem_naming(data, "options.lt5_rule")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lt5_basis", "def_date"),
        ("strict_commit_blocking", "yes"),
        ("strict_commit_blocking", 1),
        ("surrender_days", -1),
        ("surrender_days", "10"),
        ("increment_check", None),
    ],
)
def test_a_bad_option_value_is_named(name: str, value: Any) -> None:
    data = valid()
    data["options"][name] = value
    assert_one_problem_naming(data, f"options.{name}")


def test_options_that_are_not_an_object_are_named() -> None:
    data = valid()
    data["options"] = ["lt5_basis"]
    assert_one_problem_naming(data, "options")


@pytest.mark.parametrize(
    ("index", "field", "value"),
    [
        (0, "points", -1),
        (0, "points", "3"),
        (0, "points", 3.0),
        (0, "points", True),
        (0, "class", "C9"),
        (0, "class", None),
        (1, "type", "recreational"),
        (0, "how", "paid"),
        (2, "speeding", "93"),
        (0, "simultaneous_group", ["G"]),
    ],
)
def test_a_value_of_the_wrong_kind_is_named(index: int, field: str, value: Any) -> None:
    data = valid()
    data["events"][index][field] = value
    assert_one_problem_naming(data, f"events[{index}].{field}")


@pytest.mark.parametrize("events", ["I1", {"0": {}}, 3])
def test_events_that_are_not_a_list_are_named(events: Any) -> None:
    data = valid()
    data["events"] = events
    assert_one_problem_naming(data, "events")


@pytest.mark.parametrize("event", ["I1", 3, None, ["offence"]])
def test_an_event_that_is_not_an_object_is_named(event: Any) -> None:
    data = valid()
    data["events"][1] = event
    assert_one_problem_naming(data, "events[1]")


@pytest.mark.parametrize("document", [[], "history", 3, None, True])
def test_a_document_that_is_not_an_object_is_rejected(document: Any) -> None:
    problems_of(document)
    code, lines, out = cli_lines(json.dumps(document))
    assert code == 2
    assert out == ""
    assert len(lines) == 1, lines


def test_every_problem_is_reported_once_in_one_pass() -> None:
    data = valid()
    data["events"][0]["final_on"] = "2024-06-30"  # before committed_on
    data["events"][1]["last_day"] = "2024-10-13"  # before first_day
    data["events"][3]["natinf"] = "99999999"  # unknown
    data["events"][4]["offence"] = "I9"  # unknown offence
    data["options"]["colour"] = "red"  # unknown option
    problems = problems_of(data)
    expected = [
        "events[0].final_on",
        "events[1].last_day",
        "events[3].natinf",
        "events[4].offence",
        "options.colour",
    ]
    assert len(problems) == len(expected), problems
    for path in expected:
        assert sum(p.startswith(path) for p in problems) == 1, (path, problems)


def test_the_cli_prints_one_line_per_problem_and_exits_2() -> None:
    data = valid()
    data["events"][0]["final_on"] = "2024-06-30"
    data["events"][1]["last_day"] = "2024-10-13"
    data["events"][2]["points"] = 1
    code, lines, out = cli_lines(json.dumps(data))
    assert code == 2
    assert out == ""
    assert len(lines) == 3, lines
    assert lines == sorted(lines, key=lambda line: line.split("]")[0]), "problems come in input order"
    for path in ("events[0].final_on", "events[1].last_day", "events[2]"):
        assert any(line.startswith(path) for line in lines), (path, lines)


def test_wrong_dates_do_not_hide_the_other_problems_of_the_same_offence() -> None:
    """One line per problem (ENGINE-IO.md): an offence final before it was committed, with 30 points of a class
    that does not exist, is told all three, not the dates alone."""
    data = {
        "licence": {"obtained_on": "2010-01-01"},
        "events": [
            {
                "kind": "offence",
                "committed_on": "2024-07-01",
                "final_on": "2024-06-10",
                "points": 30,
                "class": "C9",
            },
            {
                "kind": "offence",
                "committed_on": "2024-07-01",
                "final_on": "2024-06-10",
                "speeding": {"limit_kmh": 50},
            },
        ],
    }
    code, lines, _ = cli_lines(json.dumps(data))
    assert code == 2
    assert [line.split(":")[0] for line in lines] == [
        "events[0].final_on",
        "events[0].points",
        "events[0].class",
        "events[1].final_on",
        "events[1].speeding.retained_kmh",
    ], lines


@pytest.mark.parametrize(
    "breaker",
    [
        lambda d: d["events"][1].update(kind="stage"),
        lambda d: d["events"][0].update(colour="red"),
        lambda d: d["events"][0].pop("final_on"),
        lambda d: d["events"][0].update(final_on="2024-02-30"),
        lambda d: d["events"][0].update(final_on="2024-06-30"),
        lambda d: d["events"][1].update(last_day="2024-10-13"),
        lambda d: d["events"][2].update(points=1, **{"class": "C3"}),
        lambda d: d["events"][3].update(natinf="99999999"),
        lambda d: d["events"][1].update(id="I1"),
        lambda d: d["events"][4].update(offence="I9"),
        lambda d: d["options"].update(colour="red"),
    ],
    ids=[
        "kind",
        "field",
        "missing-date",
        "malformed-date",
        "final-before-commission",
        "last-before-first",
        "points-and-speeding",
        "natinf",
        "duplicate-id",
        "cancel-unknown",
        "option",
    ],
)
def test_each_problem_class_exits_2_on_the_cli_with_the_same_message(breaker: Any) -> None:
    data = valid()
    breaker(data)
    problems = problems_of(data)
    code, lines, out = cli_lines(json.dumps(data))
    assert code == 2
    assert out == ""
    assert len(lines) == len(problems)
    for problem, line in zip(problems, lines):
        assert problem in line, (problem, line)


# --- fuzzing --------------------------------------------------------------------------------------

FIELD_NAMES = [
    "licence",
    "events",
    "options",
    "kind",
    "id",
    "obtained_on",
    "route",
    "regained",
    "complementary_training_on",
    "committed_on",
    "final_on",
    "decided_on",
    "points",
    "class",
    "speeding",
    "limit_kmh",
    "retained_kmh",
    "natinf",
    "how",
    "simultaneous_group",
    "offence",
    "on",
    "first_day",
    "last_day",
    "type",
    "from",
    "to",
    "ban_until",
    "recorded_on",
    "lt5_basis",
    "strict_commit_blocking",
    "surrender_days",
]
WORDS = [
    "offence",
    "course",
    "offence_cancelled",
    "invalidation_notified",
    "licence_surrendered",
    "annulment",
    "suspension",
    "new_licence",
    "C4",
    "D",
    "aac",
    "traditional",
    "mandatory",
    "I1",
    "23800",
    "2024-07-10",
    "2024-02-30",
    "9999-12-31",
    "0001-01-01",
    "1992-07-01",
    "2200-12-31",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(WORDS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), children, max_size=6),
    ),
    max_leaves=30,
)
JUNK_DATES = st.one_of(
    st.sampled_from(
        [
            "2024-02-30",
            "",
            "2024-1-1",
            "0001-01-01",
            "9999-12-31",
            "2200-12-31",
            "1900-01-01",
            "2024-07-10T10:00",
            "2024-W28-3",
            "31/12/2024",
            "1992-06-30",
            "1985-01-01",
        ]
    ),
    st.dates().map(date.isoformat),
    st.integers(),
    st.none(),
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated_histories(draw: st.DrawFn) -> Any:
    """A valid generated history with one to three mutations: dropped keys, wrong types, junk dates."""
    data = copy.deepcopy(draw(gen.histories(max_events=6)))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(data)))
        if not where:
            continue
        parent = data
        for step in where[:-1]:
            parent = parent[step]
        key = where[-1]
        action = draw(st.sampled_from(["drop", "replace", "junk_date", "duplicate", "swap_type"]))
        if action == "drop":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(json_values)
        elif action == "junk_date":
            parent[key] = draw(JUNK_DATES)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif action == "swap_type":
            value = parent[key]
            parent[key] = [value] if not isinstance(value, list) else {"0": value}
    return data


# PERMIS_FUZZ_EXAMPLES=5000 pytest tests/rules/test_bad_input.py for a longer hunt.
FUZZ_EXAMPLES = int(os.environ.get("PERMIS_FUZZ_EXAMPLES", "300"))
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def parse_and_evaluate(data: Any) -> None:
    try:
        history = parse_history(data)
    except InputError as error:
        assert error.problems
        assert all(isinstance(p, str) and p for p in error.problems)
        return
    obtained = max(history.licence.obtained_on, date(1992, 7, 1))
    for on in (obtained, max(obtained, date(2024, 10, 16)), max(obtained, date(2035, 12, 31))):
        evaluation_to_json(evaluate(history, on=on))


def cli_accepts_or_rejects(data: Any) -> None:
    text = json.dumps(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.json"
        path.write_text(text, encoding="utf-8")
        code, out, err = run_main(["evaluate", str(path), "--on", ON, "--on", "2031-01-01"])
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 0:
        assert len(json.loads(out)) == 2
        assert err == ""
    else:
        assert out == ""
        assert err.strip()


@FUZZ_SETTINGS
@given(json_values)
def test_random_json_raises_only_input_error(data: Any) -> None:
    parse_and_evaluate(data)


@FUZZ_SETTINGS
@given(st.dictionaries(st.sampled_from(["licence", "events", "options"]), json_values, min_size=1))
def test_random_documents_raise_only_input_error(data: Any) -> None:
    parse_and_evaluate(data)


@FUZZ_SETTINGS
@given(mutated_histories())
def test_mutated_histories_raise_only_input_error(data: Any) -> None:
    parse_and_evaluate(data)


@settings(FUZZ_SETTINGS, max_examples=max(1, FUZZ_EXAMPLES // 2))
@given(st.one_of(json_values, mutated_histories()))
def test_the_cli_exits_0_or_2_and_never_prints_a_traceback(data: Any) -> None:
    cli_accepts_or_rejects(data)


@settings(FUZZ_SETTINGS, max_examples=max(1, FUZZ_EXAMPLES // 3))
@given(st.text(max_size=60))
def test_the_cli_survives_any_text_on_standard_input(text: str) -> None:
    code, out, err = run_main(["evaluate", "-", "--on", ON], stdin=text)
    assert code in (0, 2)
    assert "Traceback" not in err


@settings(FUZZ_SETTINGS, max_examples=max(1, FUZZ_EXAMPLES // 3))
@given(st.one_of(st.dates().map(date.isoformat), st.text(max_size=12)))
def test_the_cli_survives_any_on_date(on: str) -> None:
    code, out, err = run_main(["evaluate", "-", "--on", on], stdin=json.dumps(valid()))
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert out == ""
