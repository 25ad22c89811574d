"""The `permis` command.

`permis rules ...` is the rules engine's own command-line (docs: ENGINE-IO.md). It must start fast and work
without a database or Django settings, so this module imports nothing heavy at the top: Django is imported only
on the paths that need it.
"""

from __future__ import annotations

import os
import sys

SETTINGS_MODULE = "permis.config.settings"

HELP = """\
usage: permis COMMAND [ARGS...]

the law:
  rules evaluate|explain ...   the rules engine: a history in JSON, a balance out (no database needed);
                               `permis rules --help` for its options

running the service:
  serve [--host H] [--port N]  serve the web site on http://127.0.0.1:8000/ (Django's development server)
  migrate                      create or update the database tables (SQLite under ./var/ by default)
  worker                       run the background jobs: the daily run at 00:05 Paris time, the letters
                               every minute
  fcdev [--port 8001]          the development FranceConnect (an OpenID Connect provider on loopback)
  demo [--licences N]          fill an empty file with a realistic population and the named demo holders

the national file:
  import offences FILE         the infraction feed (CSV or JSON Lines, docs/feed.md); a report per record
  daily [--date YYYY-MM-DD]    apply every change due on or before the date (default: today), resumable
  verify [--all|--licence N]   check every hash chain (events, access log) and re-evaluate the licences
                               from their events; lists each discrepancy, exits 1 if there is one

letters and documents:
  notices plan|send|stats      turn due letters into deliveries, send them, show volumes and postage saved
  receipt DELIVERY --kind K --on D
                               record a registered letter's postal receipt (a 48SI's invalidates)
  document letter|attestation|rii REF --out FILE
                               write a signed PDF
  verify-document FILE_OR_QR   check a document's signature: valid, expired, revoked, tampered, unknown key
  keys generate                a new signing key (PERMIS_SIGNING_KEY) and its public line

people and partners:
  agent create|list|disable|reset-2fa
                               the back office's agents and supervisors; reset-2fa removes a lost
                               second factor
  apikey create|list|revoke|rotate
                               the partner API's keys and their scopes
  manage ARGS...               any Django management command, e.g. `permis manage check --deploy`
  help                         this text

`permis COMMAND --help` details each command; any other command is handed to Django's management,
so `permis compilemessages` works too. Settings come from the environment: see docs/operations.md.
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"help", "-h", "--help"}:
        print(HELP, end="")
        return 0
    command, rest = args[0], args[1:]
    if command == "rules":
        return _rules(rest)
    if command == "serve":
        return _serve(rest)
    if command == "manage":
        return _django(rest)
    return _django(args)


def _rules(argv: list[str]) -> int:
    try:
        from permis.rules.cli import main as rules_main
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("permis.rules"):
            raise
        print("permis: the rules engine (permis.rules) is not installed in this checkout", file=sys.stderr)
        return 1
    try:
        return int(rules_main(argv) or 0)
    except BrokenPipeError:
        # The reader went away (`permis rules evaluate ... | head`): silence the flush at exit, as Python's
        # documentation recommends, rather than print a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _serve(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="permis serve", description="Serve the web site.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--noreload", action="store_true", help="do not restart when the code changes")
    options = parser.parse_args(argv)
    host = f"[{options.host}]" if ":" in options.host else options.host
    command = ["runserver", f"{host}:{options.port}"]
    if options.noreload:
        command.append("--noreload")
    return _django(command)


def _django(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["permis", *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
