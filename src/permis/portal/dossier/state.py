"""What the holder's pages read from the national file: the licence, its state today, its history and forecast.

Read-only: nothing here writes a row (every change goes through ``permis.registry.services``).

The fast path: the Projection is the engine's answer as of ``as_of``, and nothing changes before its
``next_change_on`` (an upcoming movement or a suspension boundary), while any new event rewrites it at once. So
when ``as_of <= today < next_change_on`` the Projection *is* today's state and the dashboard needs no engine
run. Otherwise (the daily run has not passed yet) the state is computed from the history on the spot: the portal
never shows yesterday's balance.

The pages that need the whole timeline (history, forecast) run the engine once per licence, day and history:
the evaluation is kept in the cache under the history's last hash, so a new event changes the key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from permis.notices.documents.facts import add_months, offence_description, offence_places
from permis.portal.dates import long_date
from permis.registry.models import (
    CURRENT_LICENCE_FIRST,
    Category,
    Event,
    Licence,
    Movement,
    Notice,
    Projection,
)
from permis.registry.services.core import engine_document, genesis_hash, stored_history_of
from permis.rules import Evaluation, History, Timeline
from permis.rules.engine import add_years
from permis.rules.model import Course, Offence, Suspension
from permis.rules.parameters import parameter

CACHE_SECONDS = 6 * 3600
COURSE_48N_MONTHS = 4  # R223-4: the mandatory course within four months of the 48N's receipt


def licence_of(holder: Any) -> Licence | None:
    """The holder's current licence (the most recent one), with its projection, in one query (the holder's pages
    have it already as ``request.licence``, read by ``@holder_required`` with the link)."""
    return (
        Licence.objects.select_related("projection")
        .filter(holder=holder)
        .order_by(*CURRENT_LICENCE_FIRST)
        .first()
    )


@dataclass(frozen=True)
class Snapshot:
    """The licence's state today."""

    on: dt.date
    balance: int
    raw_balance: int
    cap: int
    status: str
    suspended: bool
    probation_end: dt.date | None
    next_change_on: dt.date | None
    computed_on: dt.date  # the date of the stored calculation, or today when computed on the spot
    fresh: bool  # True when read from the projection


def projection_is_fresh(projection: Projection | None, today: dt.date) -> bool:
    if projection is None:
        return False
    return projection.as_of <= today and (
        projection.next_change_on is None or projection.next_change_on > today
    )


def snapshot(licence: Licence, today: dt.date) -> tuple[Snapshot, Evaluation | None]:
    """Today's state: from the projection when it holds today, else from the engine (returned too)."""
    projection = getattr(licence, "projection", None)
    if projection is not None and projection_is_fresh(projection, today):
        return (
            Snapshot(
                today,
                projection.balance,
                projection.raw_balance,
                projection.cap,
                projection.status,
                projection.suspended,
                projection.probation_end,
                projection.next_change_on,
                projection.as_of,
                True,
            ),
            None,
        )
    line = timeline_of(licence)
    evaluation = line.evaluation_at(today)
    upcoming = evaluation.upcoming[0].on if evaluation.upcoming else None
    return (
        Snapshot(
            today,
            evaluation.balance,
            evaluation.raw_balance,
            evaluation.cap,
            evaluation.status,
            evaluation.suspended,
            evaluation.probation.end if evaluation.probation else None,
            upcoming,
            today,
            False,
        ),
        evaluation,
    )


# -- the whole timeline ------------------------------------------------------------------------------------------
@dataclass
class FileTimeline:
    """A licence's stored events, the engine's history of them, and the evaluations asked for."""

    licence: Licence
    events: list[Event]
    document: dict[str, Any]
    history: History
    _line: Timeline | None = None
    _evaluations: dict[dt.date, Evaluation] = field(default_factory=dict)

    def evaluation_at(self, on: dt.date) -> Evaluation:
        if on not in self._evaluations:
            key = f"dossier:eval:{self.licence.pk}:{self.last_hash}:{on.isoformat()}"
            evaluation = cache.get(key)
            if evaluation is None:
                if self._line is None:
                    self._line = Timeline(self.history)
                evaluation = self._line.at(max(on, self._line.first_day))
                cache.set(key, evaluation, CACHE_SECONDS)
            self._evaluations[on] = evaluation
        return self._evaluations[on]

    @property
    def last_hash(self) -> str:
        return self.events[-1].hash if self.events else genesis_hash(self.licence)

    def engine_events(self) -> dict[str, Any]:
        """Engine id -> the engine's event (offences with their barème facts resolved)."""
        return {event.id: event for event in self.history.events}


def timeline_of(licence: Licence) -> FileTimeline:
    events = list(Event.objects.filter(licence=licence).order_by("seq"))
    document = engine_document(licence, events)
    return FileTimeline(licence, events, document, stored_history_of(licence, events))


# -- history rows ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OffenceDetails:
    description: str
    committed_on: dt.date
    final_on: dt.date
    place: str
    points: int
    natinf: str
    article: str


@dataclass(frozen=True)
class HistoryRow:
    on: dt.date
    change: int
    balance: int
    cap: int
    kind: str
    label: str
    reason: str
    basis: str
    offence: OffenceDetails | None
    cause: str = ""  # the engine's id of the event behind the movement ("e<seq>"), "" when none


def reason_of(movement: Any, engine_events: dict[str, Any]) -> str:
    """Why a movement happened, in plain words."""
    event = engine_events.get(movement.cause or "")
    kind = movement.kind
    if isinstance(event, Offence):
        if kind == "withdrawal":
            return _("Infraction du %(date)s devenue définitive le %(final)s") % {
                "date": long_date(event.committed_on),
                "final": long_date(event.final_on),
            }
        if kind == "withdrawal_cancelled":
            return _("L’infraction du %(date)s a été annulée : les points sont rendus") % {
                "date": long_date(event.committed_on)
            }
        if kind == "one_point_restoration":
            return _("Six mois sans nouvelle infraction après celle du %(date)s (infraction de 1 point)") % {
                "date": long_date(event.committed_on)
            }
        if kind == "ten_year_restoration":
            return _("Dix ans après l’infraction du %(date)s (délit ou contravention de 4e ou 5e classe)") % {
                "date": long_date(event.committed_on)
            }
    if isinstance(event, Course) and kind == "course_credit":
        return _("Stage de sensibilisation suivi du %(first)s au %(last)s") % {
            "first": long_date(event.first_day),
            "last": long_date(event.last_day),
        }
    words = {
        "initial": _("Points attribués à l’obtention du permis"),
        "full_restoration": _("Période sans nouvelle infraction : le capital est reconstitué"),
        "probation_increment": _("Une année du permis probatoire sans infraction"),
        "probation_end": _("Fin du permis probatoire : le maximum passe à 12 points"),
        "invalidation": _("Lettre 48SI : le permis est invalidé pour solde nul"),
        "annulment": _("Un juge a annulé le permis"),
        "new_licence": _("Un nouveau permis a été obtenu"),
    }
    return str(words.get(kind, ""))


def history_rows(line: FileTimeline, movements: Sequence[Any]) -> list[HistoryRow]:
    engine_events = line.engine_events()
    places = offence_places(line.licence, line.document["events"]) if movements else {}
    from permis.portal.labels import basis_label, kind_label, offence_label
    from permis.registry.communes import place_label

    rows = []
    for movement in movements:
        event = engine_events.get(movement.cause or "")
        details = None
        if isinstance(event, Offence) and movement.kind in ("withdrawal", "withdrawal_cancelled"):
            details = OffenceDetails(
                offence_label(event) or offence_description(event),
                event.committed_on,
                event.final_on,
                place_label(places.get(event.id, "")),
                event.points,
                event.natinf or "",
                event.article or "",
            )
        rows.append(
            HistoryRow(
                movement.on,
                movement.change,
                movement.balance,
                movement.cap,
                movement.kind,
                kind_label(movement.kind),
                reason_of(movement, engine_events),
                basis_label(movement.basis or ""),
                details,
                movement.cause or "",
            )
        )
    return rows


# -- the dashboard's warnings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    level: str  # "error" | "warning" | "info"
    title: str
    text: str


def remember(key: str, compute: Any, seconds: int = CACHE_SECONDS) -> Any:
    """The cached value under `key`, computed and kept on a miss. Keys carry the history's last hash (and the
    day), so a new event or a new day is a new key: nothing shown can be older than the file."""
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value


def version(licence: Licence) -> str:
    """The file's version for cache keys: the projection's last hash and date (a new event changes both)."""
    projection = getattr(licence, "projection", None)
    if projection is None:
        return "none"
    return f"{projection.last_hash}:{projection.as_of.isoformat()}"


def _course_and_probation_marks(licence: Licence, today: dt.date) -> list[tuple[str, dt.date]]:
    return remember(
        f"dossier:marks:{licence.pk}:{version(licence)}:{today.isoformat()}",
        lambda: _read_marks(licence, today),
    )


def _read_marks(licence: Licence, today: dt.date) -> list[tuple[str, dt.date]]:
    return list(
        Movement.objects.filter(
            licence=licence, kind__in=("course_credit", "new_licence", "probation_end"), on__lte=today
        )
        .order_by("position")
        .values_list("kind", "on")
    )


def next_course_from(
    licence: Licence, state: Snapshot, marks: list[tuple[str, dt.date]] | None = None
) -> dt.date | None:
    """From which day a voluntary course would give points (L223-6 al. 4, R223-8), as the engine says it.

    The engine's rule (``Timeline._next_course``, the default reading: a year from the last course that gave
    points), read from the stored movements so that the dashboard needs no engine run.
    """
    today = state.on
    if state.status in ("invalidated", "annulled") or state.raw_balance >= state.cap:
        return None
    ceiling = parameter("course.ceiling").at(today)
    if ceiling is not None and state.raw_balance >= ceiling:
        return None
    if marks is None:
        marks = _course_and_probation_marks(licence, today)
    epoch_start = licence.obtained_on
    previous = None
    for kind, on in marks:
        if kind == "new_licence":
            epoch_start, previous = on, None
        elif kind == "course_credit" and on > epoch_start:
            previous = on
    if previous is None:
        return today
    interval = parameter("course.min_interval_years")
    candidate = max(today, add_years(previous, interval.at(today)))
    return max(today, add_years(previous, interval.at(candidate)))


def course_deadline(licence: Licence, today: dt.date) -> tuple[Notice, dt.date | None] | None:
    """The latest 48N of the last year and the end of its four months (None while its receipt is unknown)."""
    from permis.notices.legal import received_on

    notice = (
        Notice.objects.filter(licence=licence, code="48N", due_on__gte=today - dt.timedelta(days=365))
        .order_by("-due_on")
        .first()
    )
    if notice is None:
        return None
    if Movement.objects.filter(licence=licence, kind="course_credit", on__gte=notice.due_on).exists():
        return None  # the course has been followed
    received = received_on(notice)
    deadline = add_months(received, COURSE_48N_MONTHS) if received else None
    if deadline is not None and deadline < today:
        return None
    return notice, deadline


def warnings(
    licence: Licence, state: Snapshot, ahead: Outlook | None = None
) -> tuple[list[Alert], dt.date | None]:
    """What the holder should know and do, most urgent first; and the date from which a course would count.

    `ahead`: the licence's ``outlook`` (read here when not given)."""
    if ahead is None:
        ahead = outlook(licence, state)
    items: list[Alert] = []
    marks = _course_and_probation_marks(licence, state.on)
    course_from = next_course_from(licence, state, marks)
    # A 48N is only sent during a probationary period; its four months can run a little past the period's end.
    probation_ended = max((on for kind, on in marks if kind == "probation_end"), default=None)
    may_have_48n = state.probation_end is not None or (
        probation_ended is not None and probation_ended > state.on - dt.timedelta(days=365)
    )
    if state.status == "annulled":
        items.append(
            Alert(
                "error",
                _("Votre permis a été annulé par un juge"),
                _(
                    "Vous ne pouvez plus conduire. Pour conduire de nouveau, il faudra repasser le permis après la "
                    "fin de l’interdiction fixée par le jugement."
                ),
            )
        )
    elif state.status == "invalidated":
        if ahead.surrendered and ahead.new_licence_from is not None:
            # L223-5 II: no new licence before six months (a year on a repeat) from the surrender.
            text = _(
                "Vous ne pouvez plus conduire. Vous avez remis votre permis à la préfecture : vous pourrez "
                "demander un nouveau permis à partir du %(date)s (article L223-5 du code de la route)."
            ) % {"date": long_date(ahead.new_licence_from)}
        else:
            text = _(
                "Vous ne pouvez plus conduire. Remettez votre permis à la préfecture dans les 10 jours qui "
                "suivent la réception de la lettre 48SI ; vous pourrez repasser le permis après un délai de "
                "6 mois."
            )
        items.append(Alert("error", _("Votre permis est invalidé"), text))
    elif state.status == "zero_balance":
        items.append(
            Alert(
                "error",
                _("Votre solde est nul"),
                _(
                    "Votre permis sera invalidé à la réception de la lettre recommandée 48SI. Un stage suivi "
                    "avant cette réception peut encore rendre des points."
                ),
            )
        )
    if state.suspended:
        text = _("Vous ne pouvez pas conduire pendant la suspension, quel que soit votre solde de points.")
        if ahead.suspended_until is not None and state.status == "valid":
            text += " " + _(
                "La suspension dure jusqu’au %(last)s inclus : vous pourrez conduire de nouveau à partir du "
                "%(next)s."
            ) % {
                "last": long_date(ahead.suspended_until),
                "next": long_date(ahead.suspended_until + dt.timedelta(days=1)),
            }
        elif ahead.suspended_until is not None:
            text += " " + _("La suspension dure jusqu’au %(last)s inclus.") % {
                "last": long_date(ahead.suspended_until)
            }
        items.append(Alert("error", _("Votre permis est suspendu"), text))
    if state.status in ("valid", "zero_balance"):
        deadline = course_deadline(licence, state.on) if may_have_48n else None
        if deadline is not None:
            _notice, end = deadline
            if end is not None:
                text = _(
                    "Votre permis probatoire a perdu au moins 3 points : suivez un stage de sensibilisation avant "
                    "le %(date)s (4 mois après la réception de la lettre 48N). Sans ce stage, vous risquez une "
                    "amende et la suspension du permis."
                ) % {"date": long_date(end)}
            else:
                text = _(
                    "Votre permis probatoire a perdu au moins 3 points : vous devez suivre un stage de "
                    "sensibilisation dans les 4 mois qui suivent la réception de la lettre recommandée 48N."
                )
            items.append(Alert("error", _("Stage obligatoire (lettre 48N)"), text))
        if state.status == "valid" and state.balance <= 3:
            items.append(
                Alert(
                    "error",
                    _("Il vous reste %(n)s points ou moins") % {"n": 3},
                    _(
                        "Une seule infraction peut suffire à annuler votre solde. Un stage de sensibilisation "
                        "rend jusqu’à 4 points ; conduisez avec une prudence particulière."
                    ),
                )
            )
        elif state.status == "valid" and state.balance <= 6:
            items.append(
                Alert(
                    "warning",
                    _("Il vous reste %(n)s points ou moins") % {"n": 6},
                    _(
                        "Pensez à un stage de sensibilisation : il rend jusqu’à 4 points, sans dépasser le "
                        "maximum de votre permis."
                    ),
                )
            )
        if course_from is not None and state.balance < state.cap:
            if course_from <= state.on:
                text = _(
                    "Un stage suivi dès aujourd’hui vous rendrait des points (au plus 4, une fois par an)."
                )
            else:
                text = _(
                    "Vous avez déjà suivi un stage cette année : un nouveau stage ne rendra des points qu’à "
                    "partir du %(date)s."
                ) % {"date": long_date(course_from)}
            items.append(Alert("info", _("Stage de récupération de points"), text))
    if state.status == "valid" and state.probation_end is not None and state.probation_end > state.on:
        items.append(probation_alert(state.probation_end, ahead.balance_at_probation_end))
    return items, course_from


@dataclass(frozen=True)
class Outlook:
    """What the engine foresees for the licence after today, as the dashboard says it (kept in the cache).

    The projection's ``next_change_on`` mixes the next change of the points and the next suspension boundary;
    these are kept apart here, with the balance the forecast gives at the end of probation and, for an
    invalidated licence, the day from which a new licence may be applied for.
    """

    points_change_on: dt.date | None = None  # the next change of the balance shown (``next_balance_change``)
    suspended_until: dt.date | None = None  # the last day of the suspension under way
    suspension_from: dt.date | None = None  # the first day of a suspension to come
    balance_at_probation_end: int | None = None
    surrendered: bool = False  # the invalidated licence has been surrendered
    new_licence_from: dt.date | None = None  # L223-5: no new licence before this day


def outlook(licence: Licence, state: Snapshot) -> Outlook:
    """The engine's outlook after `state.on`; no engine run when the projection says nothing is to come (most
    licences at 12: no change of points, no suspension boundary, no probation, not invalidated)."""
    if (
        state.fresh
        and state.next_change_on is None
        and state.status != "invalidated"
        and state.probation_end is None
        and not state.suspended
    ):
        return Outlook()
    return remember(
        f"dossier:outlook:v2:{licence.pk}:{version(licence)}:{state.on.isoformat()}",
        lambda: _read_outlook(licence, state),
    )


def _read_outlook(licence: Licence, state: Snapshot) -> Outlook:
    line = timeline_of(licence)
    evaluation = line.evaluation_at(state.on)
    today = state.on
    at_end = None
    if state.probation_end is not None:
        # The last forecast change on or before the end of probation: after an offence during probation the cap
        # becomes 12 at the end, but the balance stays (RULES.md §3.2).
        at_end = evaluation.balance
        for movement in evaluation.upcoming:
            if movement.on > state.probation_end:
                break
            at_end = movement.balance
    suspensions = sorted(
        (event.start, event.end) for event in line.history.events if isinstance(event, Suspension)
    )
    suspended_until = None
    for start, end in suspensions:
        # The suspension under way, run on through the ones that follow it without a day's gap.
        if start <= (suspended_until + dt.timedelta(days=1) if suspended_until else today) and end >= today:
            suspended_until = max(end, suspended_until or end)
    starts = [start for start, _end in suspensions if start > today and start > (suspended_until or today)]
    return Outlook(
        points_change_on=next_balance_change(evaluation),
        suspended_until=suspended_until,
        suspension_from=min(starts) if starts else None,
        balance_at_probation_end=at_end,
        surrendered=evaluation.status == "invalidated" and evaluation.new_licence_from is not None,
        new_licence_from=evaluation.new_licence_from if evaluation.status == "invalidated" else None,
    )


def next_balance_change(evaluation: Evaluation) -> dt.date | None:
    """The first upcoming day on which the balance shown changes. A change of the cap alone (the end of probation
    after an offence: the maximum becomes 12, the balance stays, RULES.md §3.2) is not one: the dashboard would
    announce a change of the points on a day the balance stays the same."""
    balance = evaluation.balance
    for movement in evaluation.upcoming:
        if movement.balance != balance:
            return movement.on
        balance = movement.balance
    return None


def probation_alert(end: dt.date, balance: int | None) -> Alert:
    """What the end of probation will bring, in the engine's own forecast (not a promise of 12 points)."""
    if balance is None or balance >= 12:
        text = _(
            "Votre période probatoire se termine le %(date)s. Sans infraction d’ici là, votre permis "
            "atteindra alors 12 points."
        ) % {"date": long_date(end)}
    else:
        text = ngettext(
            "Votre période probatoire se termine le %(date)s. Le maximum de votre permis passera alors à "
            "12 points, mais votre solde ne remontera pas à 12 à cette date, parce qu’une infraction a été commise "
            "pendant la période probatoire : sans nouvelle infraction ni stage d’ici là, il sera de %(n)s point.",
            "Votre période probatoire se termine le %(date)s. Le maximum de votre permis passera alors à "
            "12 points, mais votre solde ne remontera pas à 12 à cette date, parce qu’une infraction a été commise "
            "pendant la période probatoire : sans nouvelle infraction ni stage d’ici là, il sera de %(n)s points.",
            balance,
        ) % {"date": long_date(end), "n": balance}
    return Alert("info", _("Permis probatoire"), text)


def categories_of(licence: Licence) -> list[Category]:
    """The licence's categories (written when the licence is registered; kept five minutes at most)."""
    return remember(
        f"dossier:categories:{licence.pk}:{version(licence)}",
        lambda: list(Category.objects.filter(licence=licence).order_by("obtained_on", "code")),
        300,
    )
