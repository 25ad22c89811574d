"""`permis rules`: the engine's command-line contract (ENGINE-IO.md), kept exactly.

    permis rules evaluate HISTORY.json --on YYYY-MM-DD [--on ...] [--known-at YYYY-MM-DD]
    permis rules explain  HISTORY.json --on YYYY-MM-DD [--lang fr|en]

Exit 0 on success; exit 2 on bad input, one line per problem on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from typing import NoReturn, TextIO


class _BadInput(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _BadInput([f"{self.prog}: {message}"])


def _date(value: str) -> dt.date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, re.ASCII):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid date (expected YYYY-MM-DD)") from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="permis rules", description="Evaluate a points-licence history (ENGINE-IO.md).")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, text in (
        ("evaluate", "the evaluation as JSON"),
        ("explain", "the same evaluation as plain French text, citing articles"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "history", metavar="HISTORY.json", help="the history file, or - for standard input"
        )
        command.add_argument(
            "--on", type=_date, action="append", required=True, metavar="YYYY-MM-DD", help="evaluation date"
        )
        command.add_argument(
            "--known-at",
            type=_date,
            metavar="YYYY-MM-DD",
            help="only the events recorded on or before this date",
        )
        if name == "explain":
            command.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the text")
    return parser


def _read(path: str, stdin: TextIO) -> object:
    name = "standard input" if path == "-" else path
    try:
        text = stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except OSError as error:
        raise _BadInput([f"{name}: cannot be read ({error.strerror})"]) from None
    except UnicodeDecodeError:
        raise _BadInput([f"{name}: is not UTF-8 text"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _BadInput(
            [f"{name}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"]
        ) from None
    except RecursionError:
        raise _BadInput([f"{name}: JSON nested too deeply"]) from None


def run(argv: list[str], stdin: TextIO, stdout: TextIO) -> None:
    args = _parser().parse_args(argv)
    data = _read(args.history, stdin)
    from permis.rules.engine import Timeline  # after the arguments: `--help` stays instant
    from permis.rules.io import InputError, evaluation_to_json, parse_history

    try:
        history = parse_history(data)
    except InputError as error:
        raise _BadInput(error.problems) from None
    line = Timeline(history.known_at(args.known_at))
    start = line.first_day
    early = [day for day in args.on if day < start]
    if early:
        raise _BadInput(
            [
                f"--on: {day.isoformat()} is before the licence carries points ({start.isoformat()})"
                for day in early
            ]
        )
    evaluations = [line.at(day) for day in args.on]
    if args.command == "explain":
        from permis.rules.explain import explain

        stdout.write("\n".join(explain(e, history, args.lang) for e in evaluations))
        return
    out = [evaluation_to_json(e) for e in evaluations]
    json.dump(out[0] if len(out) == 1 else out, stdout, ensure_ascii=False, indent=2)
    stdout.write("\n")


def main(argv: list[str] | None = None) -> int:
    try:
        run(sys.argv[1:] if argv is None else argv, sys.stdin, sys.stdout)
    except _BadInput as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
