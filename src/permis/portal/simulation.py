"""From the simulator's forms to the rules engine's input, and from its answer (or its objections) back to the
page.

The engine speaks ENGINE-IO.md: a history in, an evaluation out, and on bad input a list of problems that each
name their place (`events[3].final_on: ...`, `licence.obtained_on: ...`). This module keeps track of which row
of which formset became which event, so each problem lands next to the field that caused it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils.translation import gettext as _

from permis.portal.chart import COMPACT_HEIGHT, COMPACT_WIDTH, Chart, Step, build_chart
from permis.portal.dates import long_date
from permis.portal.forms import CourseFormSet, LicenceForm, OffenceFormSet
from permis.portal.labels import basis_label, kind_label, letter_label, status_label
from permis.portal.problems import in_words
from permis.rules import InputError, evaluate_many, parse_history

# Engine field (after the event's index) -> form field.
OFFENCE_FIELDS = {
    "committed_on": "committed_on",
    "final_on": "final_on",
    "decided_on": "decided_on",
    "points": "points",
    "class": "offence_class",
    "speeding": "retained_kmh",
    "speeding.limit_kmh": "limit_kmh",
    "speeding.retained_kmh": "retained_kmh",
    "natinf": "natinf",
}
COURSE_FIELDS = {"first_day": "first_day", "last_day": "last_day", "type": "course_type"}
LICENCE_FIELDS = {
    "obtained_on": "obtained_on",
    "route": "route",
    "complementary_training_on": "complementary_training_on",
    "regained": "regained",
}
INVALIDATION_FIELDS = {"on": "invalidation_notified_on"}

logger = logging.getLogger(__name__)

PROBLEM = re.compile(
    r"^(?:events\[(?P<index>\d+)\]|(?P<licence>licence))(?:\.(?P<field>[\w.\[\]]+))?\s*:\s*(?P<text>.*)$"
)


@dataclass(frozen=True)
class Source:
    """Where one event of the engine's input came from."""

    form: forms.Form
    fields: Mapping[str, str]
    label: str


@dataclass(frozen=True)
class ErrorItem:
    """One line of the error summary at the top of the page, linking to its field."""

    label: str
    message: str
    anchor: str


@dataclass(frozen=True)
class Change:
    on: date
    change: int
    balance: int
    cap: int
    kind: str
    label: str
    cause: str
    basis: str
    unless: str | None = None


@dataclass(frozen=True)
class LetterRow:
    code: str
    on: date
    label: str
    cause: str


@dataclass(frozen=True)
class OtherDate:
    on: date
    balance: int
    cap: int
    status: str


@dataclass(frozen=True)
class Result:
    on: date
    balance: int
    cap: int
    status: str
    status_label: str
    suspended: bool
    probation: Any
    movements: tuple[Change, ...]
    upcoming: tuple[Change, ...]
    letters: tuple[LetterRow, ...]
    next_creditable_course_from: date | None
    chart: Chart | None
    compact_chart: Chart | None
    chart_description: str
    chart_rows: tuple[tuple[date, int, int, bool], ...]
    other_dates: tuple[OtherDate, ...]
    history_json: str


@dataclass
class Simulator:
    """The page's three forms, validated together."""

    licence: LicenceForm
    offences: forms.BaseFormSet
    courses: forms.BaseFormSet
    sources: list[Source] = field(default_factory=list)
    engine_problems: list[str] = field(default_factory=list)
    engine_failed: bool = False

    @classmethod
    def bind(cls, data: Mapping[str, Any] | None, *, today: date | None = None) -> Simulator:
        return cls(
            licence=LicenceForm(data, today=today),
            offences=OffenceFormSet(data, prefix="offences"),
            courses=CourseFormSet(data, prefix="courses"),
        )

    def is_valid(self) -> bool:
        # Validate all three so every error shows at once.
        results = [self.licence.is_valid(), self.offences.is_valid(), self.courses.is_valid()]
        return all(results)

    def history(self) -> dict[str, Any]:
        """The engine's input (ENGINE-IO.md), remembering where each event came from."""
        licence = self.licence.cleaned_data
        events: list[dict[str, Any]] = []
        self.sources = []
        for number, form in enumerate(self.offences.kept_forms(), start=1):
            events.append(form.to_event(f"I{number}"))
            self.sources.append(Source(form, OFFENCE_FIELDS, _("Infraction %(n)s") % {"n": number}))
        for number, form in enumerate(self.courses.kept_forms(), start=1):
            events.append(form.to_event(f"S{number}"))
            self.sources.append(Source(form, COURSE_FIELDS, _("Stage %(n)s") % {"n": number}))
        if licence.get("invalidation_notified_on"):
            events.append(
                {
                    "kind": "invalidation_notified",
                    "id": "48SI",
                    "on": licence["invalidation_notified_on"].isoformat(),
                }
            )
            self.sources.append(Source(self.licence, INVALIDATION_FIELDS, _("Lettre 48SI")))
        return {
            "licence": {
                "obtained_on": licence["obtained_on"].isoformat(),
                "route": licence["route"],
                "complementary_training_on": _iso(licence.get("complementary_training_on")),
                "regained": bool(licence.get("regained")),
            },
            "events": events,
        }

    def dates(self) -> list[date]:
        data = self.licence.cleaned_data
        dates = [data["on"]]
        if data.get("also_on") and data["also_on"] != data["on"]:
            dates.append(data["also_on"])
        return dates

    def run(self) -> Result | None:
        """Evaluate the history; on the engine's objections, put them on the forms and return None."""
        history_input = self.history()
        dates = self.dates()
        try:
            history = parse_history(history_input)
            evaluations = evaluate_many(history, dates)
        except InputError as error:
            self.attach_problems(list(error.problems) or [str(error)])
            return None
        except ValueError as error:
            if "before the licence carries points" not in str(error):
                return self._engine_failed(history_input, dates)
            # A date before the licence carries points (e.g. before 1992-07-01 for an older licence).
            self.licence.add_error(
                "on",
                _(
                    "À cette date, le permis ne porte pas encore de points : choisissez une date plus tardive."
                ),
            )
            return None
        except Exception:  # noqa: BLE001 - a bug of the engine must not take the public page down
            return self._engine_failed(history_input, dates)
        return present(evaluations[0], evaluations[1:], history_input, self.causes(history_input))

    def _engine_failed(self, history_input: Mapping[str, Any], dates: Sequence[date]) -> None:
        """The engine crashed: log the case to reproduce it, tell the person plainly, keep what they typed."""
        logger.exception(
            "the rules engine failed on a simulator history (dates %s): %s",
            [d.isoformat() for d in dates],
            json.dumps(history_input, ensure_ascii=False),
        )
        self.engine_failed = True
        self.licence.add_error(
            None,
            _(
                "Le simulateur n’a pas su calculer ce cas : c’est une erreur de notre part, elle a été "
                "enregistrée pour être corrigée. Vérifiez les dates saisies ou essayez une autre date de calcul."
            ),
        )

    def attach_problems(self, problems: Sequence[str]) -> None:
        """Each problem goes to the field it names, else to its row, else to the top of the page."""
        self.engine_problems = list(problems)
        for problem in problems:
            match = PROBLEM.match(problem)
            if match is None:
                self.licence.add_error(None, in_words(problem))
                continue
            text = in_words(match["text"] or problem)
            if match["licence"]:
                form, fields = self.licence, LICENCE_FIELDS
            else:
                index = int(match["index"])
                if index >= len(self.sources):
                    self.licence.add_error(None, in_words(problem))
                    continue
                form, fields = self.sources[index].form, self.sources[index].fields
            name = fields.get(match["field"] or "")
            if name is None:
                # The problem is about the event as a whole, or a field the page does not show.
                form.add_error(None, text)
            else:
                form.add_error(name, text)

    def causes(self, history_input: Mapping[str, Any]) -> dict[str, str]:
        """Event id -> how the page names it ("infraction 1 du 1 juillet 2024")."""
        names: dict[str, str] = {}
        offence, course = 0, 0
        for event in history_input["events"]:
            if event["kind"] == "offence":
                offence += 1
                names[event["id"]] = _("infraction %(n)s du %(date)s") % {
                    "n": offence,
                    "date": _long(date.fromisoformat(event["committed_on"])),
                }
            elif event["kind"] == "course":
                course += 1
                names[event["id"]] = _("stage %(n)s du %(first)s au %(last)s") % {
                    "n": course,
                    "first": _long(date.fromisoformat(event["first_day"])),
                    "last": _long(date.fromisoformat(event["last_day"])),
                }
            elif event["kind"] == "invalidation_notified":
                names[event["id"]] = _("lettre 48SI reçue le %(date)s") % {
                    "date": _long(date.fromisoformat(event["on"]))
                }
        return names

    def error_summary(self) -> list[ErrorItem]:
        items: list[ErrorItem] = []
        rows: list[tuple[str, forms.Form]] = [(_("Votre permis"), self.licence)]
        rows += [(_("Infraction %(n)s") % {"n": i}, f) for i, f in enumerate(self.offences.forms, start=1)]
        rows += [(_("Stage %(n)s") % {"n": i}, f) for i, f in enumerate(self.courses.forms, start=1)]
        for row_label, form in rows:
            if not form.is_bound or not form.errors:
                continue
            if getattr(form, "cleaned_data", {}).get("DELETE"):
                continue
            for name, messages in form.errors.items():
                if name == NON_FIELD_ERRORS:
                    anchor = form.prefix or "licence"
                    label = row_label
                else:
                    anchor = form[name].auto_id
                    label = f"{row_label} – {form.fields[name].label}"
                items.extend(ErrorItem(label, message, anchor) for message in messages)
        for formset in (self.offences, self.courses):
            items.extend(
                ErrorItem(_("Lignes"), message, formset.prefix) for message in formset.non_form_errors()
            )
        return items


def present(
    evaluation: Any, others: Sequence[Any], history_input: Mapping[str, Any], causes: Mapping[str, str]
) -> Result:
    """An Evaluation of permis.rules as the page shows it."""

    def change(movement: Any, shown: int, unless: str | None = None) -> Change:
        return Change(
            on=movement.on,
            change=shown,
            balance=movement.balance,
            cap=movement.cap,
            kind=movement.kind,
            label=kind_label(movement.kind),
            cause=causes.get(movement.cause, movement.cause or ""),
            basis=basis_label(movement.basis or ""),
            unless=unless,
        )

    movements = tuple(change(m, m.change) for m in evaluation.movements)
    upcoming = tuple(change(m, shown, unless) for m, shown, unless in forecast_changes(evaluation))
    past_steps = [Step(m.on, m.balance, m.cap) for m in movements]
    forecast_steps = [Step(m.on, m.balance, m.cap) for m in upcoming]
    chart = build_chart(past_steps, evaluation.on, forecast_steps)
    compact_chart = build_chart(
        past_steps,
        evaluation.on,
        forecast_steps,
        width=COMPACT_WIDTH,
        height=COMPACT_HEIGHT,
        max_year_ticks=3,
    )
    chart_rows = tuple((m.on, m.balance, m.cap, False) for m in movements) + tuple(
        (m.on, m.balance, m.cap, True) for m in upcoming
    )
    return Result(
        on=evaluation.on,
        balance=evaluation.balance,
        cap=evaluation.cap,
        status=evaluation.status,
        status_label=status_label(evaluation.status),
        suspended=bool(evaluation.suspended),
        probation=evaluation.probation,
        movements=movements,
        upcoming=upcoming,
        letters=tuple(
            LetterRow(
                letter.code,
                letter.on,
                letter_label(letter.code),
                causes.get(letter.cause, letter.cause or ""),
            )
            for letter in evaluation.letters
        ),
        next_creditable_course_from=evaluation.next_creditable_course_from,
        chart=chart,
        compact_chart=compact_chart,
        chart_description=describe_chart(movements, upcoming, evaluation),
        chart_rows=chart_rows,
        other_dates=tuple(OtherDate(o.on, o.balance, o.cap, status_label(o.status)) for o in others),
        history_json=json.dumps(history_input, ensure_ascii=False, indent=2),
    )


def forecast_changes(evaluation: Any) -> list[tuple[Any, int, str | None]]:
    """Each upcoming change of `evaluation` as the holder sees it: (movement, change, what would cancel it).

    The change is the difference of the balances shown (never below 0), not the engine's change of the signed
    raw balance: from a raw -1, a full restoration is 0 -> 12, so +12. A change due while the balance is nil
    (the 48SI not notified yet) is also cancelled by the 48SI's notification: once notified, no recovery of any
    kind (RULES.md §7.4). The engine's output is left as it is (ENGINE-IO.md); this is its presentation.
    """
    rows = []
    balance, status = evaluation.balance, evaluation.status
    for movement in evaluation.upcoming:
        unless = unless_in_words(movement, nil_balance=status == "zero_balance")
        rows.append((movement, movement.balance - balance, unless))
        balance, status = movement.balance, movement.status
    return rows


def unless_in_words(movement: Any, *, nil_balance: bool = False) -> str | None:
    """What would cancel an upcoming change, in the page's language.

    `nil_balance`: the change is due while the balance is nil and the 48SI not notified yet, so that letter's
    notification (the licence's invalidation) before that day cancels it too (RULES.md §7.4)."""
    words = _condition_in_words(movement)
    condition = getattr(movement, "condition", None)
    if not nil_balance or (condition and condition[0] == "invalidated_first"):
        return words
    invalidation = _("l’invalidation du permis (notification de la lettre 48SI) avant cette date")
    if not words:
        return invalidation
    return _("%(condition)s, ou %(invalidation)s") % {"condition": words, "invalidation": invalidation}


def _condition_in_words(movement: Any) -> str | None:
    condition = getattr(movement, "condition", None)
    if not condition:
        return getattr(movement, "unless", None)
    code = condition[0]
    if code == "commit_before":
        return _("une infraction commise avant le %(date)s") % {"date": _long(condition[1])}
    if code == "commit_or_final":
        return _(
            "une infraction commise avant le %(date)s, ou une infraction qui devient définitive avant le %(due)s"
        ) % {"date": _long(condition[1]), "due": _long(condition[2])}
    if code == "invalidated_first":
        return _("l’invalidation ou l’annulation du permis avant cette date")
    if code == "cancelled":
        return _("l’annulation de l’infraction")
    return getattr(movement, "unless", None)


def describe_chart(movements: Sequence[Change], upcoming: Sequence[Change], evaluation: Any) -> str:
    """The chart in one or two sentences, for those who do not see it."""
    if not movements:
        return ""
    first, lowest = movements[0], min(movements, key=lambda m: m.balance)
    text = _(
        "Le solde part de %(first)s points le %(first_on)s et vaut %(balance)s points sur %(cap)s le "
        "%(on)s, date du calcul ; le plus bas est %(lowest)s points le %(lowest_on)s."
    ) % {
        "first": first.balance,
        "first_on": _long(first.on),
        "balance": evaluation.balance,
        "cap": evaluation.cap,
        "on": _long(evaluation.on),
        "lowest": lowest.balance,
        "lowest_on": _long(lowest.on),
    }
    if upcoming:
        last = upcoming[-1]
        text += " " + _(
            "Sans nouvelle infraction, il serait de %(balance)s points sur %(cap)s le %(on)s."
        ) % {
            "balance": last.balance,
            "cap": last.cap,
            "on": _long(last.on),
        }
    return text


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _long(value: date) -> str:
    return long_date(value)
