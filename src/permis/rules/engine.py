"""The points-licence law as an event-driven computation (RULES.md §3-§9 and §12).

``evaluate(history, on)`` replays the whole history once, in legal-date order, and cuts the resulting timeline
at ``on``: what happened up to that date are the movements, what is due after it are the upcoming changes.
Because every evaluation date is cut from the same replay, an evaluation on D always agrees with the movements
up to D of an evaluation on any later date.

Same-day order (RULES.md §12): withdrawals, then automatic restorations, then probation anniversaries and end,
then course credits, then the 48SI notification.

The engine never reads the clock: every date comes in as an argument.
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
from collections.abc import Iterable, Sequence

from permis.rules import citations
from permis.rules.model import (
    ANNULLED,
    INVALIDATED,
    LONG_TRACK_CLASSES,
    VALID,
    ZERO_BALANCE,
    Annulment,
    Course,
    Evaluation,
    History,
    InvalidationNotified,
    Letter,
    Movement,
    NewLicence,
    Offence,
    OffenceCancelled,
    Options,
    Probation,
    Suspension,
)
from permis.rules.notes import note
from permis.rules.parameters import parameter

SYSTEM_START = dt.date(1992, 7, 1)
_SYSTEM_START_ORD = SYSTEM_START.toordinal()
_FC_START = dt.date(2019, 1, 1)
_RAISE_1992 = dt.date(1992, 12, 1)  # the day the first 6 points become 12 (option start_1992)
_RAISE_1992_ORD = _RAISE_1992.toordinal()

# Same-day order of actions (RULES.md §12), with the book-keeping steps around it.
O_RAISE_1992 = 0
O_WITHDRAWAL = 1
O_CANCELLATION = 2
O_RESTORATION = 3
O_PROBATION = 4
O_DEFERRED_FULL = 5  # a full restoration deferred to the end of probation comes right after it
O_COURSE = 6
O_48SI = 7
O_ANNULMENT = 8

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_new_tuple = tuple.__new__


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later; the 29th-31st fall back to the month's last day (29 Feb + 1 year = 28 Feb)."""
    index = day.month - 1 + months
    year = day.year + index // 12
    month = index % 12 + 1
    last = _DAYS_IN_MONTH[month - 1]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        last = 29
    return dt.date(year, month, day.day if day.day <= last else last)


def add_years(day: dt.date, years: int) -> dt.date:
    return add_months(day, 12 * years)


class _Params:
    """The parameters the engine reads, fetched once."""

    def __init__(self) -> None:
        p = parameter
        self.maximum = p("capital.maximum")
        self.probation_in_force = p("probation.in_force")
        self.probation_initial = p("probation.initial_points")
        self.probation_months = p("probation.duration_months")
        self.probation_increments = p("probation.increments")
        self.fc_window = p("probation.complementary_training_window_months")
        self.simultaneous_cap = p("withdrawal.simultaneous_cap")
        self.one_point_delay = p("recovery.one_point_delay_months")
        self.full_years = p("recovery.full_restoration_years")
        self.ten_year = p("recovery.ten_year")
        self.course_points = p("course.credit_points")
        self.course_ceiling = p("course.ceiling")
        self.course_interval = p("course.min_interval_years")
        self.surrender_days = p("invalidation.surrender_days")
        self.waiting = p("invalidation.waiting_months")
        self.letter_48m = p("notices.letter_48m_threshold")
        self.letter_48n = p("notices.letter_48n_min_points")
        # What the replay derives again and again from the same few thousand days, computed once per day.
        self._after_final: dict[dt.date, tuple] = {}
        self._full_windows: dict[dt.date, tuple[int, int]] = {}

    def after_final(self, final_on: dt.date) -> tuple:
        """The recovery dates that hang on an offence's final date: (one-point delay in months or None, the
        one-point window's end, its ordinal, the 10-year rule's classes, the 10-year date)."""
        facts = self._after_final.get(final_on)
        if facts is None:
            delay = self.one_point_delay.at(final_on)
            one_point_end = add_months(final_on, delay) if delay is not None else None
            ten = self.ten_year.at(final_on)
            facts = self._after_final[final_on] = (
                delay,
                one_point_end,
                one_point_end.toordinal() if one_point_end is not None else None,
                ten["classes"],
                add_years(final_on, ten["years"]),
            )
        return facts

    def full_windows(self, anchor: dt.date) -> tuple[int, int]:
        """The ends of the full-restoration windows from `anchor` (short, long), as ordinals."""
        ends = self._full_windows.get(anchor)
        if ends is None:
            years = self.full_years.at(anchor)
            ends = self._full_windows[anchor] = (
                add_years(anchor, years["short"]).toordinal(),
                add_years(anchor, years["long"]).toordinal(),
            )
        return ends


_PARAMS: _Params | None = None


def _params() -> _Params:
    global _PARAMS
    if _PARAMS is None:
        _PARAMS = _Params()
    return _PARAMS


class _Withdrawal:
    """One offence's withdrawal as the replay sees it (mutable, private to one replay)."""

    __slots__ = (
        "cancelled",
        "capped",
        "group_total",
        "in_probation",
        "offence",
        "on",
        "processed",
        "restored",
        "share",
        "ten_year_share",
    )

    def __init__(self, offence: Offence, share: int, group_total: int, on: dt.date):
        self.offence = offence
        self.share = share
        self.ten_year_share = share
        self.capped = False
        self.group_total = group_total
        self.on = on  # the date the points leave the balance (decision date or final date)
        self.processed = False
        self.restored = False
        self.cancelled = False
        self.in_probation = False


class _Epoch:
    """One licence in the life of a holder: the first one, then each licence obtained again."""

    __slots__ = (
        "annulled_on",
        "ban_until",
        "cause",
        "eligible_commits",
        "end",
        "increments_frozen_on",
        "invalidated_on",
        "probation",
        "probation_commits",
        "regained",
        "route",
        "start",
        "surrendered_on",
        "training_on",
    )

    def __init__(
        self, start: dt.date, route: str, training_on: dt.date | None, regained: bool, cause: str | None
    ):
        self.start = start
        self.end: dt.date | None = None
        self.route = route
        self.training_on = training_on
        self.regained = regained
        self.cause = cause
        self.probation: Probation | None = None
        self.invalidated_on: dt.date | None = None
        self.surrendered_on: dt.date | None = None
        self.annulled_on: dt.date | None = None
        self.ban_until: dt.date | None = None
        self.increments_frozen_on: dt.date | None = None  # as administered: first withdrawal in probation
        self.eligible_commits: list[int] = []
        self.probation_commits: list[int] = []


def _group_cap(members: list[Offence], options: Options, params: _Params) -> int:
    """The most a simultaneous group may remove (L223-2 III, R223-2; 9 by derogation, L235-1)."""
    basis_day = min(
        (o.committed_on if options.harsher_basis == "committed_on" else o.final_on) for o in members
    )
    caps = params.simultaneous_cap.at(basis_day)
    cap = caps["with_delit"] if any(o.offence_class == "D" for o in members) else caps["contraventions"]
    return max(cap, max(o.points for o in members))  # a single offence removing more by derogation keeps them


def _removed_in_order(members: list[Offence], withdrawal_days: list[dt.date], cap: int) -> list[int]:
    """What each member removes: in the order the withdrawals take effect, until the group's cap is used.

    What leaves the balance on a date never depends on a member whose withdrawal comes later.
    """
    removed = [0] * len(members)
    left = cap
    for i in sorted(range(len(members)), key=lambda i: (withdrawal_days[i], i)):
        removed[i] = min(members[i].points, left)
        left -= removed[i]
    return removed


def _ten_year_shares(members: list[Offence], total: int, options: Options) -> list[int]:
    """How a capped group's points are shared for the ten-year rule (option ten_year_split, RULES.md §7.3)."""
    points = [o.points for o in members]
    if total >= sum(points):
        return points
    first = [o.offence_class in ("C1", "C2", "C3", "C4") for o in members]
    if options.ten_year_split == "c1_c4_first":
        shares = [0] * len(members)
        left = total
        for priority in (True, False):
            for i, member_points in enumerate(points):
                if first[i] is priority:
                    shares[i] = min(member_points, left)
                    left -= shares[i]
        return shares
    whole = sum(points)
    shares = [p * total // whole for p in points]
    left = total - sum(shares)
    order = sorted(range(len(members)), key=lambda i: (not first[i], -(points[i] * total % whole), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


class _Replay:
    """One pass over a history, in legal-date order, writing the timeline of movements and letters."""

    def __init__(self, history: History):
        self.history = history
        self.options = history.options
        self.params = _params()
        self.movements: list[Movement] = []
        self.letters: list[Letter] = []
        self.notes: list[tuple[dt.date, str]] = []
        self.credits: list[dt.date] = []  # dates of course credits (that start the yearly limit)
        self.attended: list[dt.date] = []  # dates after every non-judicial course (rolling_from_any)
        self.suspensions: list[Suspension] = []
        self.epochs: list[_Epoch] = []
        self.raw = 0
        self.cap = 0
        self.status = VALID

    # -- output -------------------------------------------------------------------------------------------
    def emit(
        self,
        on: dt.date,
        change: int,
        kind: str,
        cause: str | None,
        basis: str,
        condition: tuple | None = None,
    ) -> None:
        raw = self.raw
        # tuple.__new__ makes the same Movement as Movement(...), without the Python frame of its __new__.
        self.movements.append(
            _new_tuple(
                Movement,
                (
                    on,
                    change,
                    raw if raw > 0 else 0,
                    kind,
                    cause,
                    basis,
                    self.cap,
                    raw,
                    self.status,
                    condition,
                ),
            )
        )

    def letter(self, code: str, on: dt.date, cause: str | None) -> None:
        self.letters.append(_new_tuple(Letter, (code, on, cause)))

    def max_points(self, on: dt.date) -> int:
        if self.options.start_1992 == "12":
            return 12
        return self.params.maximum.at(on)

    def set_raw(self, value: int) -> None:
        self.raw = value
        if self.status is VALID or self.status is ZERO_BALANCE:
            self.status = VALID if value > 0 else ZERO_BALANCE

    # -- the replay ---------------------------------------------------------------------------------------
    def run(self) -> None:
        history = self.history
        licence = history.licence
        offences: list[Offence] = []
        others: list = []
        new_licences: list[NewLicence] = []
        cancellations: dict[str, OffenceCancelled] = {}
        for event in history.events:
            kind = event.kind
            if kind == "offence":
                offences.append(event)
            elif kind == "new_licence":
                new_licences.append(event)
            elif kind == "suspension":
                self.suspensions.append(event)
            elif kind == "offence_cancelled":
                cancellations[event.offence] = event
            else:
                others.append(event)
        epochs = [
            _Epoch(
                licence.obtained_on, licence.route, licence.complementary_training_on, licence.regained, None
            )
        ]
        if new_licences:
            for item in sorted(new_licences, key=lambda e: (e.obtained_on, e.id)):
                if item.obtained_on > epochs[-1].start:
                    epochs[-1].end = item.obtained_on
                    epochs.append(_Epoch(item.obtained_on, item.route, None, True, item.id))
        self.epochs = epochs
        if len(self.suspensions) > 1:
            self.suspensions.sort(key=lambda s: (s.start, s.end, s.id))
        if len(epochs) == 1:
            self.run_epoch(epochs[0], offences, others, cancellations)
            return
        starts = [e.start for e in epochs]
        by_epoch_offences: list[list[Offence]] = [[] for _ in epochs]
        by_epoch_others: list[list] = [[] for _ in epochs]
        for offence in offences:
            by_epoch_offences[max(0, bisect.bisect_right(starts, offence.committed_on) - 1)].append(offence)
        for event in others:
            day = event.first_day if event.kind == "course" else event.on
            by_epoch_others[max(0, bisect.bisect_right(starts, day) - 1)].append(event)
        for index, epoch in enumerate(epochs):
            self.run_epoch(epoch, by_epoch_offences[index], by_epoch_others[index], cancellations)

    def run_epoch(
        self, epoch: _Epoch, offences: list[Offence], others: list, cancellations: dict[str, OffenceCancelled]
    ) -> None:
        options, params = self.options, self.params
        start = epoch.start
        points_start = start if start >= SYSTEM_START else SYSTEM_START
        first_epoch = epoch.cause is None
        probationary = start >= SYSTEM_START and bool(params.probation_in_force.at(start))
        end_ord = epoch.end.toordinal() if epoch.end is not None else None

        # Withdrawals: shares of simultaneous groups, then the date the points leave the balance.
        withdrawals: list[_Withdrawal] = []
        groups: dict[str, list[Offence]] = {}
        by_decision = options.withdrawal_date == "decided_on"
        for offence in offences:
            if offence.points <= 0:
                continue  # no withdrawal: blocks nothing, freezes nothing (RULES.md §4.6)
            group = offence.simultaneous_group
            if group is not None:
                groups.setdefault(group, []).append(offence)
                continue
            on = offence.decided_on if by_decision and offence.decided_on is not None else offence.final_on
            withdrawals.append(_Withdrawal(offence, offence.points, offence.points, on))
        for members in groups.values():
            members.sort(key=lambda o: (o.committed_on, o.final_on, o.id))
            days = [o.decided_on if by_decision and o.decided_on is not None else o.final_on for o in members]
            removed = _removed_in_order(members, days, _group_cap(members, options, params))
            total = sum(removed)
            ten_year = _ten_year_shares(members, total, options)
            capped = total < sum(o.points for o in members)
            for offence, share, day, ten in zip(members, removed, days, ten_year, strict=True):
                w = _Withdrawal(offence, share, total, day)
                w.ten_year_share = ten
                w.capped = capped
                withdrawals.append(w)
        if len(withdrawals) > 1:
            withdrawals.sort(key=lambda w: (w.on, w.offence.committed_on, w.offence.final_on, w.offence.id))

        # Offences that block recovery windows and stop probation increments: every withdrawal that stands.
        eligible = (
            [w for w in withdrawals if w.offence.id not in cancellations] if cancellations else withdrawals
        )
        commits = [w.offence.committed_on.toordinal() for w in eligible]
        commits.sort()
        epoch.eligible_commits = commits
        self.eligible_finals = (
            None
            if options.strict_commit_blocking
            else sorted(
                (w.offence.committed_on.toordinal(), w.offence.final_on.toordinal()) for w in eligible
            )
        )
        self.commits = commits

        # Probation (L223-1, R223-1).
        prob_start_ord = prob_end_ord = None
        increments: list[tuple[dt.date, int]] = []
        if probationary:
            epoch.probation, increments = self.probation_plan(epoch, commits, first_epoch)
            prob_start_ord = start.toordinal()
            prob_end_ord = epoch.probation.end.toordinal()
            epoch.probation_commits = [c for c in commits if prob_start_ord <= c < prob_end_ord]
            for w in withdrawals:
                c = w.offence.committed_on.toordinal()
                w.in_probation = prob_start_ord <= c < prob_end_ord

        # The static actions, sorted by (date, same-day order, sequence).
        actions: list[tuple[int, int, int, int, object]] = []
        seq = 0
        if points_start < _RAISE_1992 and options.start_1992 == "6_then_12" and not probationary:
            actions.append((_RAISE_1992_ORD, O_RAISE_1992, 0, 0, None))
        for w in withdrawals:
            seq += 1
            actions.append((w.on.toordinal(), O_WITHDRAWAL, seq, 1, w))
            final_on = w.offence.final_on
            # A group cut by the cap removed the cap as a whole: none of its members removed exactly one
            # point on its own (L223-6 al. 3), so the 6-month rule gives nothing back to them.
            _, one_point_end, _, ten_classes, ten_day = params.after_final(final_on)
            if (
                w.share == 1
                and not w.capped
                and (options.one_point_simultaneous == "each" or w.group_total == 1)
                and one_point_end is not None
            ):
                due = one_point_end if one_point_end > w.on else w.on
                actions.append((due.toordinal(), O_RESTORATION, seq, 2, w))
            if w.offence.offence_class in ten_classes:
                due = ten_day if ten_day > w.on else w.on
                actions.append((due.toordinal(), O_RESTORATION, seq, 3, w))
            cancellation = cancellations.get(w.offence.id)
            if cancellation is not None:
                actions.append((cancellation.on.toordinal(), O_CANCELLATION, seq, 4, (w, cancellation)))
        for day, increment in increments:
            seq += 1
            actions.append((day.toordinal(), O_PROBATION, seq, 5, increment))
        if probationary:
            seq += 1
            actions.append((prob_end_ord, O_PROBATION, seq, 6, None))
        for event in sorted(others, key=_event_key) if others else ():
            seq += 1
            kind = event.kind
            if kind == "course":
                actions.append(((event.last_day.toordinal() + 1), O_COURSE, seq, 7, event))
            elif kind == "invalidation_notified":
                actions.append((event.on.toordinal(), O_48SI, seq, 8, event))
            elif kind == "annulment":
                actions.append((event.on.toordinal(), O_ANNULMENT, seq, 9, event))
            elif kind == "licence_surrendered":
                actions.append((event.on.toordinal(), O_48SI, seq, 10, event))
        actions.sort()  # (date, order, sequence, code) is unique: payloads are never compared

        # The licence comes into being.
        self.withdrawals = withdrawals
        self.since_full: list[_Withdrawal] = []
        self.pending: tuple[int, int, int, int] | None = None  # (due, order, anchor, window end) as ordinals
        self.epoch = epoch
        self.prob_end_ord = prob_end_ord
        self.prob_start_ord = prob_start_ord
        if probationary:
            initial = params.probation_initial.at(start)
        else:
            initial = self.max_points(points_start)
        previous_balance = self.raw if self.raw > 0 else 0
        self.cap = initial
        self.status = VALID
        self.raw = initial
        if first_epoch:
            basis = citations.INITIAL if start >= SYSTEM_START else citations.INITIAL_1992
            self.emit(points_start, initial, "initial", None, basis)
        else:
            basis = citations.NEW_LICENCE if probationary else citations.NEW_LICENCE_FULL
            self.emit(points_start, initial - previous_balance, "new_licence", epoch.cause, basis)

        for action in actions:
            day_ord, order = action[0], action[1]
            if end_ord is not None and day_ord >= end_ord:
                break
            pending = self.pending
            if pending is not None and (pending[0], pending[1]) < (day_ord, order):
                self.full_restoration()
            code = action[3]
            if code == 1:
                self.withdraw(action[4], day_ord)
            elif code == 2:
                self.one_point(action[4], day_ord)
            elif code == 3:
                self.ten_year(action[4], day_ord)
            elif code == 4:
                self.cancel(*action[4], day_ord)
            elif code == 5:
                self.increment(action[4], day_ord)
            elif code == 6:
                self.probation_end(day_ord)
            elif code == 7:
                self.course(action[4])
            elif code == 8:
                self.invalidation(action[4])
            elif code == 9:
                self.annulment(action[4])
            elif code == 10:
                epoch.surrendered_on = action[4].on
            else:
                self.raise_1992()
        while self.pending is not None and (end_ord is None or self.pending[0] < end_ord):
            self.full_restoration()
        self.pending = None

    # -- probation ----------------------------------------------------------------------------------------
    def probation_plan(
        self, epoch: _Epoch, commits: list[int], first_epoch: bool
    ) -> tuple[Probation, list[tuple[dt.date, int]]]:
        params = self.params
        start = epoch.start
        track = "aac" if epoch.route == "aac" and not epoch.regained else "traditional"
        if epoch.route == "aac" and epoch.regained:
            self.notes.append(
                (
                    start,
                    note("aac_regained"),
                )
            )
        months = params.probation_months.at(start)[track]
        training = epoch.training_on
        if training is not None and first_epoch and not epoch.regained and training >= _FC_START:
            window = params.fc_window.at(training)
            if add_months(start, window["from"]) <= training <= add_months(start, window["to"]):
                short = params.probation_months.at(training).get(track + "_fc")
                short_end = add_months(start, short)
                s_ord, e_ord = start.toordinal(), short_end.toordinal()
                i = bisect.bisect_left(commits, s_ord)
                offence_inside = i < len(commits) and commits[i] < e_ord
                suspended_inside = any(start <= s.start < short_end for s in self.suspensions)
                if offence_inside or suspended_inside:
                    self.notes.append(
                        (
                            training,
                            note("training_void"),
                        )
                    )
                else:
                    months = short
            else:
                self.notes.append(
                    (
                        training,
                        note("training_outside"),
                    )
                )
        end = add_months(start, months)
        increment = params.probation_increments.at(start)[track]
        plan = []
        if increment:
            year = 1
            while True:
                day = add_years(start, year)
                if day >= end:
                    break
                plan.append((day, increment))
                year += 1
        return Probation(start, end, True), plan

    def increments_frozen(self, day_ord: int) -> bool:
        """Whether an offence stops the probation increments as of this day (R223-1 III; option increment_check)."""
        epoch = self.epoch
        if self.options.increment_check == "strict":
            commits = epoch.probation_commits
            return bool(commits) and commits[0] < day_ord
        frozen = epoch.increments_frozen_on
        return frozen is not None and frozen.toordinal() <= day_ord

    def increment(self, increment: int, day_ord: int) -> None:
        if self.status is INVALIDATED or self.status is ANNULLED or self.increments_frozen(day_ord):
            return
        day = dt.date.fromordinal(day_ord)
        self.cap += increment
        self.set_raw(self.raw + increment)
        self.emit(
            day, increment, "probation_increment", None, citations.PROBATION_INCREMENT, ("commit_before", day)
        )

    def probation_end(self, day_ord: int) -> None:
        if self.status is INVALIDATED or self.status is ANNULLED:
            return
        day = dt.date.fromordinal(day_ord)
        self.cap = self.max_points(day)
        change = 0
        if not self.increments_frozen(day_ord):
            change = self.cap - self.raw
            self.set_raw(self.cap)
        self.emit(
            day,
            change,
            "probation_end",
            None,
            citations.PROBATION_END,
            ("commit_before", day) if change > 0 else None,
        )
        if change > 0:
            self.letter("46", day, None)

    # -- withdrawals --------------------------------------------------------------------------------------
    def withdraw(self, w: _Withdrawal, day_ord: int) -> None:
        if w.cancelled or self.status is INVALIDATED or self.status is ANNULLED:
            return
        offence = w.offence
        day = w.on
        w.processed = True
        if w.share == 0:
            # A member of a simultaneous group whose cap was used by the others: it removes nothing itself,
            # but the group's withdrawal stands (it anchors the recovery delays).
            self.since_full.append(w)
            self.schedule_full(day_ord, O_WITHDRAWAL)
            return
        was_nul = self.raw <= 0
        self.set_raw(self.raw - w.share)
        if w.share > 6:
            basis = citations.WITHDRAWAL_DEROGATION
        elif w.share < offence.points:
            basis = citations.WITHDRAWAL_SIMULTANEOUS
        else:
            basis = citations.WITHDRAWAL
        self.emit(day, -w.share, "withdrawal", offence.id, basis, ("cancelled",))
        if w.in_probation and self.epoch.increments_frozen_on is None:
            self.epoch.increments_frozen_on = day
        # The letter (RULES.md §6).
        params = self.params
        if was_nul:
            # The balance was already nul (its 48SI not yet notified, or the licence would be invalid): the
            # withdrawal does not bring it to 0, so no second 48SI; it is notified as any other (48, R223-3 III),
            # neither 48N nor 48M, which are not sent on a nul balance.
            code = "48"
        elif self.raw <= 0:
            code = "48SI"
        elif w.in_probation and (minimum := params.letter_48n.at(day)) is not None and w.share >= minimum:
            code = "48N"
        else:
            code = "48"
            threshold = params.letter_48m.at(day)
            not_probationary = self.prob_end_ord is None or day_ord >= self.prob_end_ord
            if (
                not_probationary
                and threshold is not None
                and self.options.letter_48m == "at_or_below_6"
                and self.raw <= threshold
            ):
                code = "48M"
        self.letter(code, day, offence.id)
        self.since_full.append(w)
        self.schedule_full(day_ord, O_WITHDRAWAL)

    def cancel(self, w: _Withdrawal, cancellation: OffenceCancelled, day_ord: int) -> None:
        if not w.processed:
            w.cancelled = True  # void before it took effect: it never will
            return
        if w.cancelled or self.status is INVALIDATED or self.status is ANNULLED:
            w.cancelled = True
            return
        w.cancelled = True
        if w in self.since_full:
            self.since_full.remove(w)
            self.schedule_full(day_ord, O_CANCELLATION)
        if w.restored:
            return
        w.restored = True
        new = min(self.raw + w.share, self.cap)
        if new > self.raw:
            change = new - self.raw
            self.set_raw(new)
            self.emit(
                cancellation.on, change, "withdrawal_cancelled", w.offence.id, citations.WITHDRAWAL_CANCELLED
            )

    # -- recovery (L223-6) --------------------------------------------------------------------------------
    def blocked(self, after_ord: int, until_ord: int) -> bool:
        """Whether an offence committed in (after, until] gives rise to a withdrawal (strict_commit_blocking)."""
        finals = self.eligible_finals
        if finals is None:
            commits = self.commits
            i = bisect.bisect_right(commits, after_ord)
            return i < len(commits) and commits[i] <= until_ord
        return any(after_ord < c <= until_ord and f <= until_ord for c, f in finals)

    def schedule_full(self, now_ord: int, now_order: int) -> None:
        active = self.since_full
        if not active:
            self.pending = None
            return
        if len(active) == 1:
            offence = active[0].offence
            anchor, serious = offence.final_on, offence.offence_class in LONG_TRACK_CLASSES
        else:
            anchor = max(w.offence.final_on for w in active)
            serious = any(w.offence.offence_class in LONG_TRACK_CLASSES for w in active)
        short_end, long_end = self.params.full_windows(anchor)
        window_end = long_end if serious else short_end
        prob_end_ord = self.prob_end_ord
        anchor_ord = anchor.toordinal()
        in_probation = prob_end_ord is not None and anchor_ord < prob_end_ord
        if in_probation and self.options.probation_full_restoration == "reading_b":
            window_end = long_end
        due, order = window_end, O_RESTORATION
        if prob_end_ord is not None and window_end <= prob_end_ord:
            due, order = prob_end_ord, O_DEFERRED_FULL  # L223-1: al. 1 of L223-6 does not apply in probation
        if (due, order) < (now_ord, now_order):
            due, order = now_ord, now_order
        self.pending = (due, order, anchor_ord, window_end)

    def full_restoration(self) -> None:
        due, _, anchor, window_end = self.pending
        self.pending = None
        if self.status is not VALID and self.status is not ZERO_BALANCE:
            return
        if self.blocked(anchor, window_end):
            return  # the blocking offence's own withdrawal will set the next anchor
        day = dt.date.fromordinal(due)
        target = self.max_points(day)
        change = target - self.raw
        self.cap = target
        for w in self.withdrawals:
            if w.processed:
                w.restored = True
        self.since_full = []
        if change:
            self.set_raw(target)
            deferred = self.prob_end_ord is not None and window_end <= self.prob_end_ord
            basis = citations.FULL_RESTORATION_PROBATION if deferred else citations.FULL_RESTORATION
            end = dt.date.fromordinal(window_end)
            condition = ("commit_before", end) if due == window_end else ("commit_or_final", end, day)
            self.emit(day, change, "full_restoration", None, basis, condition)
            self.letter("46", day, None)

    def one_point(self, w: _Withdrawal, day_ord: int) -> None:
        if not w.processed or w.restored or w.cancelled:
            return
        if self.status is not VALID and self.status is not ZERO_BALANCE:
            return
        final_on = w.offence.final_on
        delay, _, window_end, _, _ = self.params.after_final(final_on)
        if self.blocked(final_on.toordinal(), window_end):
            return  # only a full restoration or the 10-year rule can bring this point back
        w.restored = True
        if self.raw < self.cap:
            day = dt.date.fromordinal(day_ord)
            self.set_raw(self.raw + 1)
            basis = citations.ONE_POINT if delay == 6 else citations.ONE_POINT_2007
            self.emit(
                day,
                1,
                "one_point_restoration",
                w.offence.id,
                basis,
                ("commit_before", dt.date.fromordinal(window_end)),
            )
            self.letter("46", day, w.offence.id)

    def ten_year(self, w: _Withdrawal, day_ord: int) -> None:
        if not w.processed or w.restored or w.cancelled or w.ten_year_share <= 0:
            return
        if self.status is not VALID and self.status is not ZERO_BALANCE:
            return
        w.restored = True
        new = min(self.raw + w.ten_year_share, self.cap)
        if new > self.raw:
            day = dt.date.fromordinal(day_ord)
            change = new - self.raw
            self.set_raw(new)
            self.emit(
                day, change, "ten_year_restoration", w.offence.id, citations.TEN_YEAR, ("invalidated_first",)
            )
            self.letter("46", day, w.offence.id)

    # -- courses (L223-6 al. 4, R223-5 to R223-8) ---------------------------------------------------------
    def course(self, course: Course) -> None:
        day = course.last_day + dt.timedelta(days=1)
        if course.type == "judicial":
            self.notes.append(
                (
                    day,
                    note("course_judicial", course=course.id),
                )
            )
            return
        if self.status is INVALIDATED or self.status is ANNULLED:
            self.notes.append((day, note("course_licence_invalid", course=course.id)))
            return
        params = self.params
        interval = params.course_interval.at(course.first_day)
        reference = self.credits if self.options.course_year == "rolling_from_credit" else self.attended
        # A licence obtained again starts a fresh record (RULES.md §3.2), and the yearly limit with it.
        previous = reference[-1] if reference and reference[-1] > self.epoch.start else None
        self.attended.append(day)
        if previous is not None and course.first_day < add_years(previous, interval):
            allowed = add_years(previous, interval)
            self.notes.append(
                (
                    day,
                    note("course_too_soon", course=course.id, years=interval, allowed=allowed.isoformat()),
                )
            )
            return
        ceiling = params.course_ceiling.at(course.first_day)
        limit = self.cap if ceiling is None or ceiling > self.cap else ceiling
        base = self.raw if self.options.course_before_48si == "raw_balance" or self.raw > 0 else 0
        target = min(base + params.course_points.at(course.first_day), limit)
        if target <= self.raw:
            self.notes.append(
                (
                    day,
                    note("course_at_cap", course=course.id),
                )
            )
            return
        change = target - self.raw
        self.set_raw(target)
        self.credits.append(day)
        self.emit(day, change, "course_credit", course.id, citations.COURSE_CREDIT)
        self.letter("47", day, course.id)

    # -- invalidation, annulment --------------------------------------------------------------------------
    def invalidation(self, event: InvalidationNotified) -> None:
        if self.status is ZERO_BALANCE:
            self.status = INVALIDATED
            self.epoch.invalidated_on = event.on
            self.emit(event.on, 0, "invalidation", event.id, citations.INVALIDATION)
        elif self.status is VALID:
            self.notes.append(
                (
                    event.on,
                    note("invalidation_without_effect"),
                )
            )

    def annulment(self, event: Annulment) -> None:
        if self.status is ANNULLED:
            return
        change = -self.raw if self.raw > 0 else 0
        self.raw = min(self.raw, 0)
        self.status = ANNULLED
        self.epoch.annulled_on = event.on
        self.epoch.ban_until = event.ban_until
        self.emit(event.on, change, "annulment", event.id, citations.ANNULMENT)

    def raise_1992(self) -> None:
        day = dt.date(1992, 12, 1)
        target = self.params.maximum.at(day)
        change = target - self.cap
        self.cap = target
        self.set_raw(self.raw + change)
        self.emit(day, change, "initial", None, citations.RAISE_1992)


_movement_on = operator.itemgetter(Movement._fields.index("on"))
_letter_on = operator.itemgetter(Letter._fields.index("on"))


def _event_key(event: object) -> tuple:
    """A total order on the non-offence events, whatever their order in the input."""
    if isinstance(event, Course):
        return (event.last_day, event.kind, event.first_day.toordinal(), event.type, event.id)
    return (event.on, event.kind, 0, "", event.id)


class Timeline:
    """The replay of one history: every movement and letter, in order, and what the cut at a date needs."""

    __slots__ = ("options", "replay")

    def __init__(self, history: History):
        replay = _Replay(history)
        replay.run()
        self.replay = replay
        self.options = history.options

    @property
    def first_day(self) -> dt.date:
        return self.replay.movements[0].on

    def at(self, on: dt.date) -> Evaluation:
        replay = self.replay
        on_ord = on.toordinal()
        # Movements and letters are in date order: the cut is found by their dates (a few comparisons).
        index = bisect.bisect_right(replay.movements, on, key=_movement_on)
        if index == 0:
            raise ValueError(
                f"{on.isoformat()} is before the licence carries points ({self.first_day.isoformat()})"
            )
        movements = replay.movements
        last = movements[index - 1]
        letters = (
            replay.letters[: bisect.bisect_right(replay.letters, on, key=_letter_on)]
            if replay.letters
            else ()
        )
        epochs = replay.epochs
        epoch = epochs[0]
        if len(epochs) > 1:
            for candidate in epochs:
                if candidate.start <= on:
                    epoch = candidate
        probation = None
        if epoch.probation is not None and epoch.start <= on < epoch.probation.end:
            probation = Probation(epoch.start, epoch.probation.end, self._increments_open(epoch, on_ord))
        suspended = bool(replay.suspensions) and any(s.start <= on <= s.end for s in replay.suspensions)
        notes = tuple(text for day, text in replay.notes if day <= on) if replay.notes else ()
        invalidated_on = epoch.invalidated_on if epoch.invalidated_on and epoch.invalidated_on <= on else None
        surrender_due = None
        new_licence_from = None
        if invalidated_on is not None:
            days = self.options.surrender_days
            surrender_due = invalidated_on + dt.timedelta(days=days)
            surrendered = (
                epoch.surrendered_on if epoch.surrendered_on and epoch.surrendered_on <= on else None
            )
            if surrendered is not None:
                new_licence_from = self._new_licence_from(epoch, surrendered)
        if epoch.annulled_on is not None and epoch.annulled_on <= on and epoch.ban_until is not None:
            new_licence_from = epoch.ban_until
        return Evaluation(
            on,
            last.balance,
            last.raw_balance,
            last.cap,
            last.status,
            suspended,
            probation,
            tuple(movements[:index]),
            tuple(movements[index:]),
            tuple(letters),
            self._next_course(last, on, epoch.start),
            epoch.start,
            invalidated_on,
            surrender_due,
            new_licence_from,
            notes,
        )

    def _increments_open(self, epoch: _Epoch, on_ord: int) -> bool:
        if self.options.increment_check == "strict":
            commits = epoch.probation_commits
            return not (commits and commits[0] <= on_ord)
        frozen = epoch.increments_frozen_on
        return frozen is None or frozen.toordinal() > on_ord

    def _next_course(self, last: Movement, on: dt.date, epoch_start: dt.date) -> dt.date | None:
        if last.status in (INVALIDATED, ANNULLED) or last.raw_balance >= last.cap:
            return None
        params = _params()
        ceiling = params.course_ceiling.at(on)
        if ceiling is not None and last.raw_balance >= ceiling:
            return None
        replay = self.replay
        reference = replay.credits if self.options.course_year == "rolling_from_credit" else replay.attended
        previous = None
        for day in reference:
            if epoch_start < day <= on:
                previous = day
        if previous is None:
            return on
        candidate = max(on, add_years(previous, params.course_interval.at(on)))
        return max(on, add_years(previous, params.course_interval.at(candidate)))

    def _new_licence_from(self, epoch: _Epoch, surrendered: dt.date) -> dt.date:
        waiting = _params().waiting.at(surrendered)
        months = waiting["normal"]
        for earlier in self.replay.epochs:
            if earlier is epoch or earlier.invalidated_on is None or earlier.start > epoch.start:
                continue
            if add_years(earlier.invalidated_on, waiting["repeat_within_years"]) >= epoch.invalidated_on:
                months = waiting["repeat"]
        return add_months(surrendered, months)


def timeline(history: History, known_at: dt.date | None = None) -> Timeline:
    return Timeline(history.known_at(known_at))


def evaluate(history: History, on: dt.date, known_at: dt.date | None = None) -> Evaluation:
    """The state of the licence on `on`, with its movements, upcoming changes and letters."""
    return Timeline(history.known_at(known_at)).at(on)


def evaluate_many(
    history: History, dates: Iterable[dt.date], known_at: dt.date | None = None
) -> list[Evaluation]:
    """Several dates from one replay."""
    line = Timeline(history.known_at(known_at))
    return [line.at(day) for day in dates]


def what_if(history: History, on: dt.date, extra: Sequence) -> tuple[Evaluation, Evaluation]:
    """The evaluation without and with hypothetical events (nothing is stored)."""
    return evaluate(history, on), evaluate(history.with_events(*extra), on)
