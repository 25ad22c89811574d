"""The law's worked examples, run against the engine.

Every file in ``tests/rules/cases/`` is one example: a licence's history (the ENGINE-IO.md input, verbatim) and
what the law says about it on chosen dates. ``cases/README.md`` explains the format for the lawyers who write
and check these files; this module only reads them, asks the engine, and compares.

One test per file, named by the case's ``id``. A case's variants (another reading of the law, or extra events)
run inside the same test; every mismatch of every variant is reported, not only the first.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

CASES_DIR = Path(__file__).parent / "cases"
REPO_ROOT = Path(__file__).resolve().parents[2]

# RULES.md is the reference the cases are written from; the coverage test below reads its §13 when it can.
RULES_MD_CANDIDATES = (
    REPO_ROOT / "docs" / "RULES.md",
    REPO_ROOT / "spec" / "RULES.md",
    REPO_ROOT.parent / "shared" / "spec" / "RULES.md",
)

CASE_KEYS = {"id", "title", "source", "history", "expect", "variants"}
REQUIRED_CASE_KEYS = {"id", "title", "source", "history", "expect"}
VARIANT_KEYS = {"name", "options", "licence", "add_events", "remove_events", "history", "expect", "refused"}
SCALAR_CHECKS = (
    "balance",
    "raw_balance",
    "cap",
    "status",
    "suspended",
    "next_creditable_course_from",
)
LIST_CHECKS = {
    # key in the case file -> (key in the engine's output, whether the items must be present)
    "letters_include": ("letters", True),
    "letters_exclude": ("letters", False),
    "movements_include": ("movements", True),
    "movements_exclude": ("movements", False),
    "upcoming_include": ("upcoming", True),
    "upcoming_exclude": ("upcoming", False),
}
EXPECT_KEYS = {"on", "known_at", "probation", "output", *SCALAR_CHECKS, *LIST_CHECKS}


# --- Loading ------------------------------------------------------------------------------------------------


class CaseLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans and no duplicate keys.

    YAML 1.1 reads ``on``, ``off``, ``yes`` and ``no`` as booleans, even as keys: ``{on: 2024-01-01}`` would
    become ``{True: ...}``. Our files use ``on`` everywhere (the engine's own field name), so only
    ``true``/``false`` are booleans here. A key written twice is an error rather than a silent overwrite.
    """


CaseLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CaseLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _construct_mapping_without_duplicates(loader: CaseLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


CaseLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates
)


def load_case(path: Path) -> Any:
    """The file's content; a file that is not valid YAML becomes a case that fails, named after the file."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=CaseLoader)  # noqa: S506 - CaseLoader is a SafeLoader
    except yaml.YAMLError as error:
        return {"id": path.name.split("-", 1)[0], "unreadable": f"{path.name}: not valid YAML: {error}"}


CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))
CASES = [load_case(path) for path in CASE_FILES]


def to_json_like(value: Any) -> Any:
    """Dates as ISO strings, recursively: the engine's API takes JSON-shaped data and returns it."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: to_json_like(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json_like(item) for item in value]
    return value


# --- Well-formedness (runs without the engine) ---------------------------------------------------------------


def format_problems(case: dict[str, Any], file_name: str) -> list[str]:
    if isinstance(case, dict) and "unreadable" in case:
        return [case["unreadable"]]
    problems: list[str] = []

    def check_keys(
        where: str, mapping: Any, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
    ) -> None:
        if not isinstance(mapping, dict):
            problems.append(f"{where}: expected a mapping")
            return
        problems.extend(f"{where}: unknown key {key!r}" for key in sorted(set(mapping) - allowed, key=str))
        problems.extend(f"{where}: missing key {key!r}" for key in sorted(required - set(mapping)))

    def check_expectations(where: str, items: Any) -> None:
        if not isinstance(items, list) or not items:
            problems.append(f"{where}: expected a non-empty list of checks")
            return
        for index, item in enumerate(items):
            check_keys(f"{where}[{index}]", item, EXPECT_KEYS, {"on"})
            if isinstance(item, dict):
                if not isinstance(item.get("on"), dt.date):
                    problems.append(f"{where}[{index}]: 'on' must be a date (YYYY-MM-DD)")
                if len(set(item) - {"on", "known_at"}) == 0:
                    problems.append(f"{where}[{index}]: checks nothing")

    check_keys(file_name, case, CASE_KEYS, REQUIRED_CASE_KEYS)
    if not isinstance(case, dict):
        return problems
    if not file_name.startswith(f"{case.get('id')}-"):
        problems.append(f"{file_name}: the file name must start with the case id {case.get('id')!r}")
    check_expectations(f"{file_name}: expect", case.get("expect"))
    names: set[str] = set()
    for index, variant in enumerate(case.get("variants") or []):
        where = f"{file_name}: variants[{index}]"
        check_keys(where, variant, VARIANT_KEYS, {"name"})
        if not isinstance(variant, dict):
            continue
        if ("expect" in variant) == ("refused" in variant):
            problems.append(f"{where}: give either 'expect' or 'refused'")
        if variant.get("name") in names:
            problems.append(f"{where}: duplicate variant name {variant.get('name')!r}")
        names.add(variant.get("name"))
        if "history" in variant and {"licence", "add_events", "remove_events", "options"} & set(variant):
            problems.append(f"{where}: give either a whole 'history' or changes to the case's, not both")
        if "refused" in variant:
            refused = variant["refused"]
            if not isinstance(refused, list) or not refused or not all(isinstance(p, str) for p in refused):
                problems.append(f"{where}: refused: expected a non-empty list of the engine's problem lines")
        else:
            check_expectations(f"{where}: expect", variant.get("expect"))
    return problems


def test_case_files_are_well_formed() -> None:
    assert CASE_FILES, f"no case file in {CASES_DIR}"
    problems = [p for path, case in zip(CASE_FILES, CASES) for p in format_problems(case, path.name)]
    ids = [case.get("id") for case in CASES if isinstance(case, dict)]
    problems += [f"case id {i!r} is used by more than one file" for i in sorted(set(ids)) if ids.count(i) > 1]
    assert not problems, "\n".join(problems)


def test_every_worked_example_of_rules_md_has_a_case() -> None:
    rules_md = next((path for path in RULES_MD_CANDIDATES if path.exists()), None)
    if rules_md is None:
        pytest.skip("RULES.md not found next to the repository")
    section_13 = rules_md.read_text(encoding="utf-8").split("## 13.", 1)[-1].split("\n## ", 1)[0]
    examples = set(re.findall(r"^\*\*(E\d+) —", section_13, flags=re.MULTILINE))
    assert examples, "no worked example found in RULES.md §13"
    missing = sorted(examples - {case.get("id") for case in CASES})
    assert not missing, f"worked examples of RULES.md §13 without a case file: {missing}"


# --- Running a case -----------------------------------------------------------------------------------------


def _engine() -> Any:
    """The engine's API, or a skip while the engine is not written yet (an engine that fails to import fails)."""
    if importlib.util.find_spec("permis") is None:
        sys.path.insert(0, str(REPO_ROOT / "src"))
    if importlib.util.find_spec("permis.rules.engine") is None:
        pytest.skip("permis.rules.engine does not exist yet")
    import permis.rules as rules

    return rules


def scenarios(case: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[dict[str, Any]] | list[str]]]:
    """The case's own history, then each variant's, as (label, history, expectations); a variant the engine
    must refuse has the problem lines it must print instead (strings, not checks)."""
    result = [("", case["history"], case["expect"])]
    for variant in case.get("variants") or []:
        if "history" in variant:
            history = copy.deepcopy(variant["history"])
        else:
            history = copy.deepcopy(case["history"])
            history["licence"] = {**history["licence"], **(variant.get("licence") or {})}
            removed = set(variant.get("remove_events") or [])
            unknown = removed - {event.get("id") for event in history.get("events", [])}
            if unknown:
                raise ValueError(f"variant {variant['name']!r} removes unknown events {sorted(unknown)}")
            history["events"] = [e for e in history.get("events", []) if e.get("id") not in removed]
            history["events"] += copy.deepcopy(variant.get("add_events") or [])
            if variant.get("options"):
                history["options"] = {**(history.get("options") or {}), **variant["options"]}
        result.append((variant["name"], history, variant.get("refused") or variant["expect"]))
    return result


def _matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return all(key in actual and actual[key] == value for key, value in expected.items())


def mismatches(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs between one check of a case file and the engine's output for that date."""
    expected = to_json_like(expected)
    found: list[str] = []
    if "output" in expected and expected["output"] != actual:
        for key in sorted(set(expected["output"]) | set(actual)):
            want, got = expected["output"].get(key, "<absent>"), actual.get(key, "<absent>")
            if want != got:
                found.append(f"output[{key!r}]: expected {want!r}, got {got!r}")
    for key in SCALAR_CHECKS:
        if key in expected and actual.get(key, "<absent>") != expected[key]:
            found.append(f"{key}: expected {expected[key]!r}, got {actual.get(key, '<absent>')!r}")
    if "probation" in expected:
        want, got = expected["probation"], actual.get("probation", "<absent>")
        if want is None or got is None or not isinstance(got, dict):
            if want != got:
                found.append(f"probation: expected {want!r}, got {got!r}")
        elif not _matches(want, got):
            found.append(f"probation: expected to include {want!r}, got {got!r}")
    for key, (output_key, present) in LIST_CHECKS.items():
        items = actual.get(output_key) or []
        for item in expected.get(key) or []:
            hit = any(_matches(item, candidate) for candidate in items)
            if hit != present:
                verb = "no item matches" if present else "an item matches, but should not:"
                found.append(f"{output_key}: {verb} {item!r}; got {items!r}")
    return found


@pytest.mark.parametrize(
    "case", CASES, ids=[str(case.get("id")) if isinstance(case, dict) else "?" for case in CASES]
)
def test_case(case: dict[str, Any]) -> None:
    assert isinstance(case, dict) and "unreadable" not in case, case
    rules = _engine()
    report: list[str] = []
    for label, history, expectations in scenarios(case):
        where = f"{case['id']}" + (f" [{label}]" if label else "")
        refused = [item for item in expectations if isinstance(item, str)]
        try:
            parsed = rules.parse_history(to_json_like(history))
        except rules.InputError as error:
            if error.problems != refused:
                want = f"expected {refused}" if refused else "expected no problem"
                report.append(f"{where}: input refused: {error.problems}, {want}")
            continue
        if refused:
            report.append(f"{where}: input accepted, expected it refused with {refused}")
            continue
        evaluations: dict[tuple[dt.date, dt.date | None], dict[str, Any] | None] = {}
        for check in expectations:
            key = (check["on"], check.get("known_at"))
            label_on = f"{where} on {check['on']}" + (f" known at {key[1]}" if key[1] else "")
            if key not in evaluations:
                try:
                    evaluation = rules.evaluate(parsed, on=key[0], known_at=key[1])
                    evaluations[key] = rules.evaluation_to_json(evaluation)
                except Exception as error:  # noqa: BLE001 - report every scenario, not only the first crash
                    report.append(f"{label_on}: engine raised {type(error).__name__}: {error}")
                    evaluations[key] = None
            if evaluations[key] is None:
                continue
            report.extend(f"{label_on}: {problem}" for problem in mismatches(check, evaluations[key]))
    assert not report, f"{case['id']} — {case['title']}\n" + "\n".join(report)
