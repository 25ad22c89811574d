"""Delivering the letters: the only writer of ``Delivery`` rows (ARCHITECTURE.md, rules 5 and 6).

The life of a delivery::

    plan_deliveries ──> pending ──claim──> sending ──send_claimed──> delivered
                          ^  \\                │  \\
                          │   (no address)     │   temporary_failure ──(backoff: next_attempt_at)──> claimed again
                          │        v           │          │ (MAX_ATTEMPTS reached)
                          │      failed <──────┴──────────┘ (or a permanent failure at once)
                          └──── retry (an agent) ─┘

1. ``plan_deliveries`` turns each pending ``registry.Notice`` (a letter the law made due) into one delivery per
   channel, from the holder's choice *at that moment*: a postal letter by default; for a holder who opted in,
   the letter in the personal account, an email saying it is there, and an SMS if asked; and for a 48N or a
   48SI a registered letter whatever the choice (instead of the simple letter for a holder by post).
2. Workers ``claim`` due rows atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; one ``UPDATE ... RETURNING``
   statement on SQLite, whose writers are serialised), so two workers never get the same row.
3. ``send_claimed`` hands each row to its channel and writes the outcome right after: ``delivered`` with what
   was sent exactly as sent; ``temporary_failure`` with the next attempt after a backoff; ``failed`` on a
   permanent failure or after ``MAX_ATTEMPTS``. A delivered row is never claimed again.
4. The notice follows its deliveries: ``delivered`` when all are, ``failed`` as soon as one is (agents see it
   on /gestion/notifications/ and can put it back with ``retry``).
5. An email alert that ends ``failed`` while its letter is still unopened in the account sends the letter by post
   instead (``fall_back_to_post``): the holder was not told it is there, so the account no longer dates it. The
   failed email stays in the letter's history, but the postal letter took its place (``replaced_by_post``): the
   notice follows the postal letter, and the email is neither a failure to show agents nor one to retry.

**At least once, never twice in practice.** Between the moment a channel accepts a message (the SMTP server's
250, the SMS provider's 200) and the moment the outcome is committed, a crash would leave the row ``sending``;
after ``LEASE`` another worker claims it again and sends it a second time. That window is at most one flush
(``FLUSH_EVERY`` messages of one worker, a fraction of a second); the lease is far longer than any flush so a
slow worker is never overtaken. The SMS (``Idempotency-Key``) and the print queue (file named after the
reference) are idempotent on the delivery's reference, so only an email can be duplicated, and only by a
crash in that window. Outcomes are written only for rows the worker still owns (same ``claimed_by`` and
``claimed_at``), so a worker that lost its lease never overwrites a newer attempt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import smtplib
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.utils import DNS_NAME
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from permis.registry.models import Holder, Notice, NoticeChannel, NoticeStatus

from . import messages
from .channels.errors import PermanentFailure, TemporaryFailure
from .legal import POSTAL_REGISTERED_CODES, REGISTERED_CODES
from .models import Channel, Delivery, DeliveryStatus

log = logging.getLogger(__name__)


# After attempt n fails for a reason that may pass, the next attempt is BACKOFF[n - 1] later (the last value
# for every later attempt), give or take JITTER, so that a provider coming back is not hit by every row at once.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=12),
)
JITTER = 0.2
# A delivery still failing after this many attempts ends `failed` (about 39 hours after the first, with the backoff above).
MAX_ATTEMPTS = 8
# A row claimed longer ago than this, still `sending`, belongs to a worker that died: it may be claimed again.
LEASE = dt.timedelta(minutes=10)
# Outcomes are written every FLUSH_EVERY messages: the at-least-once window (see the module's docstring).
FLUSH_EVERY = 100
PLAN_BATCH = 2000
ANALYZE_AFTER = 20_000  # deliveries planned in one go after which PostgreSQL's statistics are refreshed

DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.TEMPORARY_FAILURE)
POSTAL_CHANNELS = (Channel.POST, Channel.REGISTERED)
RESULT_FIELDS = [
    "status",
    "address",
    "last_error",
    "next_attempt_at",
    "template",
    "subject",
    "body",
    "document_sha256",
    "document_path",
    "provider_ref",
    "sent_at",
    "made_available_at",
    "deemed_received_on",
]
# The legal dates of an electronic notice: once set, an outcome written later never moves them.
FIRST_STANDS = frozenset({"made_available_at", "deemed_received_on"})


# -- planning ------------------------------------------------------------------------------------------------
@dataclass
class PlanSummary:
    notices: int = 0
    deliveries: Counter = field(default_factory=Counter)  # by channel
    failed: Counter = field(default_factory=Counter)  # by channel: no usable address
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "notices": self.notices,
            "deliveries": dict(self.deliveries),
            "failed": dict(self.failed),
            "seconds": round(self.seconds, 3),
        }


def postal_lines(holder: Holder) -> list[str]:
    """The address block of a letter; ValueError naming the missing fields when it cannot be posted."""
    missing = [
        label
        for label, value in (
            ("adresse", holder.address),
            ("code postal", holder.postal_code),
            ("commune", holder.city),
        )
        if not value.strip()
    ]
    if missing:
        raise ValueError(
            f"titulaire {holder.pk} : adresse postale incomplète ({', '.join(missing)} manquant) ; "
            "corriger l'adresse du titulaire puis relancer l'envoi"
        )
    return [
        messages.holder_name(holder),
        holder.address.strip(),
        f"{holder.postal_code} {holder.city}".strip(),
    ]


def _address(channel: str, holder: Holder) -> str:
    """Where a delivery on `channel` goes for this holder now; ValueError with the reason when nowhere."""
    if channel in (Channel.POST, Channel.REGISTERED):
        return ", ".join(postal_lines(holder))
    if channel == Channel.EMAIL:
        if not holder.email.strip():
            raise ValueError(
                f"titulaire {holder.pk} : aucune adresse électronique alors que la notification électronique "
                "est choisie ; la lettre reste disponible dans l'espace personnel"
            )
        return holder.email.strip()
    if channel == Channel.SMS:
        from .channels.sms import normalise_phone

        try:
            return normalise_phone(holder.phone)
        except ValueError as error:
            raise ValueError(
                f"titulaire {holder.pk} : téléphone inutilisable pour un SMS ({error})"
            ) from None
    return ""  # the account: the holder's own space, no address


def channels_for(code: str, holder: Holder) -> list[str]:
    """The channels of a letter with this code for this holder, from the holder's current choice."""
    registered = code in REGISTERED_CODES
    if holder.notice_channel == NoticeChannel.ELECTRONIC:
        chosen = [Channel.ACCOUNT, Channel.EMAIL]
        if holder.sms_alerts and holder.phone.strip():
            chosen.append(Channel.SMS)
        if registered:
            chosen.append(Channel.REGISTERED)
        return chosen
    return [Channel.REGISTERED if code in POSTAL_REGISTERED_CODES else Channel.POST]


def goes_registered(notice: Notice) -> bool:
    """Whether the letter is a registered one, as its document says: it has a registered delivery; or, before it
    is planned, the holder's choice now would give it one (``channels_for``)."""
    channels = {delivery.channel for delivery in notice.deliveries.all()}
    if not channels:
        channels = set(channels_for(notice.code, notice.licence.holder))
    return Channel.REGISTERED in channels


def _plannable(today: dt.date):
    return (
        Notice.objects.filter(status=NoticeStatus.PENDING, due_on__lte=today)
        .filter(~Exists(Delivery.objects.filter(notice=OuterRef("pk"))))
        .order_by("pk")
    )


def plannable_count(now: dt.datetime | None = None) -> int:
    return _plannable(timezone.localdate(now or timezone.now())).count()


def plan_deliveries(
    *, limit: int | None = None, now: dt.datetime | None = None, progress: Callable[[int], None] | None = None
) -> PlanSummary:
    """Create the deliveries of every pending notice that has none yet, and mark those notices `sending`.

    In batches of PLAN_BATCH notices: one query reads the notices with their holders, one bulk insert writes
    the deliveries (ignoring conflicts on the unique (notice, channel), so two planners running at once write
    each delivery once), one update moves the notices to `sending`. A delivery that has nowhere to go (no
    email, an incomplete postal address, an unusable phone number) is written `failed` with the reason, so
    that agents see it: a letter is never silently dropped. Idempotent: a notice with deliveries is skipped.
    """
    start = time.perf_counter()
    now = now or timezone.now()
    today = timezone.localdate(now)
    summary = PlanSummary()
    last_pk = 0
    while limit is None or summary.notices < limit:
        size = PLAN_BATCH if limit is None else min(PLAN_BATCH, limit - summary.notices)
        batch = list(_plannable(today).filter(pk__gt=last_pk).select_related("licence__holder")[:size])
        if not batch:
            break
        last_pk = batch[-1].pk
        rows = []
        failed_notices = []
        no_alert = []
        for notice in batch:
            holder = notice.licence.holder
            for channel in channels_for(notice.code, holder):
                row = Delivery(notice_id=notice.pk, channel=channel, next_attempt_at=now, language="fr")
                try:
                    row.address = _address(channel, holder)
                except ValueError as error:
                    row.status = DeliveryStatus.FAILED
                    row.last_error = str(error)
                    summary.failed[channel] += 1
                    failed_notices.append(notice.pk)
                    if channel == Channel.EMAIL:
                        no_alert.append(notice.pk)
                summary.deliveries[channel] += 1
                rows.append(row)
        with transaction.atomic():
            _insert(rows, now)
            fallen = fall_back_to_post(no_alert, now=now)  # no email to alert the holder: by post at once
            summary.deliveries.update(fallen)
            ids = [notice.pk for notice in batch]
            Notice.objects.filter(pk__in=ids, status=NoticeStatus.PENDING).update(status=NoticeStatus.SENDING)
            _roll_up(failed_notices)  # a notice whose delivery failed at planning shows `failed` at once
        summary.notices += len(batch)
        if progress:
            progress(len(batch))
    if connection.vendor == "postgresql" and sum(summary.deliveries.values()) >= ANALYZE_AFTER:
        # Fresh statistics after a large insert, so that the workers' queries are planned on the real table.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(Delivery._meta.db_table)}")
    summary.seconds = time.perf_counter() - start
    return summary


# Every column a new delivery row needs (the others are NULL until the delivery happens).
INSERT_COLUMNS = (
    "notice_id", "channel", "status", "address", "language", "attempts", "next_attempt_at", "claimed_by",
    "last_error", "template", "subject", "body", "document_sha256", "document_path", "provider_ref", "created_at",
    "receipt_kind", "receipt_source",
)  # fmt: skip


def _insert(rows: list[Delivery], now: dt.datetime) -> None:
    """Insert new deliveries, skipping those that exist (the unique (notice, channel)): ``bulk_create`` with
    ``ignore_conflicts``, without its per-value preparation (a third of the planning time at 100,000 letters).
    On PostgreSQL one statement per batch from arrays of the columns that differ between rows (the per-row
    pipeline of ``executemany`` was half of the planning's CPU); elsewhere one statement per row."""
    quote = connection.ops.quote_name
    table = quote(Delivery._meta.db_table)
    columns = ", ".join(
        quote(Delivery._meta.get_field(name.removesuffix("_id")).column) for name in INSERT_COLUMNS
    )
    at = connection.ops.adapt_datetimefield_value(now)
    varying = {
        "notice_id": ("bigint", [row.notice_id for row in rows]),
        "channel": ("text", [str(row.channel) for row in rows]),
        "status": ("text", [str(row.status) for row in rows]),
        "address": ("text", [row.address for row in rows]),
        "language": ("text", [row.language for row in rows]),
        "last_error": ("text", [row.last_error for row in rows]),
    }
    same = {"attempts": 0, "next_attempt_at": at, "created_at": at}  # every other column is ''
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            select = ", ".join(
                f"v.{name}" if name in varying else f"%({name})s" if name in same else "''"
                for name in INSERT_COLUMNS
            )
            unnest = ", ".join(f"%({name})s::{kind}[]" for name, (kind, _values) in varying.items())
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608 (names from the model)
                f"SELECT {select} FROM unnest({unnest}) AS v({', '.join(varying)}) ON CONFLICT DO NOTHING",
                {**same, **{name: values for name, (_kind, values) in varying.items()}},
            )
            return
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 (names from the model)
            f"VALUES ({', '.join(['%s'] * len(INSERT_COLUMNS))}) ON CONFLICT DO NOTHING",
            [
                tuple(
                    varying[name][1][index] if name in varying else same.get(name, "")
                    for name in INSERT_COLUMNS
                )
                for index in range(len(rows))
            ],
        )


# -- when the electronic alert fails ---------------------------------------------------------------------------
def fall_back_to_post(notice_ids: Iterable[int], *, now: dt.datetime | None = None) -> Counter:
    """Send by post the letters whose email alert failed for good while they were still unopened in the account.

    R223-3-1 deems an electronic notice received at its first consultation or, failing one, after a delay; that
    presumption rests on the holder being alerted (RULES.md §6: the letter is posted to the account "and an email
    alert is sent"). When the email ends `failed` (a refused address, or no attempt left), the holder may never
    know the letter exists. So, unless the holder has already opened the letter (then it is notified: R223-3-1),
    the letter goes by post as if the holder had chosen the post (``channels_for``: a simple letter, or a
    registered one for a 48M), and the account's deemed date is cleared: ``legal.legal_channel`` then dates the
    letter by its postal delivery (a registered letter's receipt; none for a simple letter, information only).
    A 48N or 48SI already goes by registered post, whose receipt is its notification: nothing changes for it.

    Idempotent (one delivery per channel); called in the transaction that records the failure. Returns the
    postal deliveries written, by channel. A holder without a complete postal address gets a `failed` postal
    delivery naming the missing fields, which agents see.
    """
    ids = sorted(set(notice_ids))
    if not ids:
        return Counter()
    now = now or timezone.now()
    unopened = list(
        _locked(Delivery.objects)
        .filter(notice_id__in=ids, channel=Channel.ACCOUNT, first_opened_at__isnull=True)
        .exclude(notice__code__in=REGISTERED_CODES)
        .exclude(notice__deliveries__channel__in=POSTAL_CHANNELS)
        .select_related("notice__licence__holder")
        .order_by("pk")
    )
    rows = []
    written: Counter = Counter()
    for account in unopened:
        notice = account.notice
        holder = notice.licence.holder
        channel = Channel.REGISTERED if notice.code in POSTAL_REGISTERED_CODES else Channel.POST
        row = Delivery(notice_id=notice.pk, channel=channel, next_attempt_at=now, language=account.language)
        try:
            row.address = _address(channel, holder)
        except ValueError as error:
            row.status = DeliveryStatus.FAILED
            row.last_error = str(error)
        rows.append(row)
        written[channel] += 1
    if rows:
        Delivery.objects.filter(pk__in=[account.pk for account in unopened]).update(deemed_received_on=None)
        _insert(rows, now)
        log.info("%d letters whose email alert failed go by post instead", len(rows))
    return written


def replaced_by_post() -> Q:
    """The deliveries whose place a postal letter took (``fall_back_to_post``): a failed email alert of a letter
    that also has a postal delivery, other than a 48N or 48SI (those go by registered post from the start, so
    their postal letter replaces nothing: a failed alert of theirs is a failure of its own).

    Such an email stays in the letter's history, but it no longer makes the letter `failed` (``_roll_up``), is
    not listed or counted among the failures agents act on (``stats``), and cannot be retried (``retry``): the
    letter went by post. ``_is_replaced`` and ``_roll_up_postgresql`` apply the same rule to rows already read.
    """
    posted = Delivery.objects.filter(notice_id=OuterRef("notice_id"), channel__in=POSTAL_CHANNELS)
    return (
        Q(channel=Channel.EMAIL, status=DeliveryStatus.FAILED)
        & ~Q(notice__code__in=sorted(REGISTERED_CODES))
        & Q(Exists(posted))
    )


def _is_replaced(channel: str, status: str, code: str, channels: set[str]) -> bool:
    """``replaced_by_post`` for one delivery of a letter with this code and these channels."""
    return (
        channel == Channel.EMAIL
        and status == DeliveryStatus.FAILED
        and code not in REGISTERED_CODES
        and any(other in POSTAL_CHANNELS for other in channels)
    )


def _locked(manager):
    """Rows locked until the end of the transaction (and only them, not the rows joined to them)."""
    if connection.features.has_select_for_update_of:
        return manager.select_for_update(of=("self",))
    return manager.select_for_update()


# -- claiming ------------------------------------------------------------------------------------------------
def _fail_exhausted_leases(now: dt.datetime) -> int:
    """Rows stuck `sending` past the lease that have used every attempt end `failed` instead of going again
    (an email among them: its letter goes by post, ``fall_back_to_post``)."""
    stuck = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=now - LEASE, attempts__gte=MAX_ATTEMPTS
    )
    emails = list(stuck.filter(channel=Channel.EMAIL).values_list("notice_id", flat=True))
    count = stuck.update(
        status=DeliveryStatus.FAILED,
        last_error=f"le traitement s'est interrompu pendant l'envoi ({MAX_ATTEMPTS} tentatives) ; "
        "vérifier si le message est parti avant de relancer",
    )
    fall_back_to_post(emails, now=now)
    return count


def _claim_sql(due: Any, limit: int, worker: str, now: dt.datetime) -> list[int]:
    subquery = Delivery.objects.filter(due).order_by("next_attempt_at", "pk").values("pk")
    if connection.features.has_select_for_update_skip_locked:
        subquery = subquery.select_for_update(skip_locked=True)
    sql, params = subquery[:limit].query.sql_with_params()
    table = connection.ops.quote_name(Delivery._meta.db_table)
    statement = (
        f"UPDATE {table} SET status = %s, claimed_by = %s, claimed_at = %s, attempts = attempts + 1 "  # noqa: S608
        f"WHERE id IN ({sql}) RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [DeliveryStatus.SENDING, worker, connection.ops.adapt_datetimefield_value(now), *params],
        )
        return [row[0] for row in cursor.fetchall()]


def claim(
    *, worker: str, limit: int, channels: Iterable[str] | None = None, now: dt.datetime | None = None
) -> list[Delivery]:
    """Claim up to `limit` due deliveries for `worker`: they become `sending`, with one more attempt.

    Due: `pending` or `temporary_failure` whose next attempt has come, oldest first, and rows left `sending`
    by a worker that died (claimed longer ago than LEASE). One statement per kind of row, each atomic: on
    PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED`` (workers never wait on each other, never
    share a row); on SQLite the single ``UPDATE ... WHERE id IN (SELECT ...) RETURNING`` runs under the
    database's write lock. The rows come back with their notice, licence and holder.
    """
    now = now or timezone.now()
    only = Q(channel__in=list(channels)) if channels else Q()
    claimed: list[int] = []
    with transaction.atomic():
        _fail_exhausted_leases(now)
        for due in (
            Q(status=DeliveryStatus.TEMPORARY_FAILURE, next_attempt_at__lte=now),
            Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now),
            Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - LEASE),
        ):
            if len(claimed) >= limit:
                break
            claimed += _claim_sql(due & only, limit - len(claimed), worker, now)
    if not claimed:
        return []
    return list(
        Delivery.objects.filter(pk__in=claimed).select_related("notice__licence__holder").order_by("pk")
    )


# -- sending -------------------------------------------------------------------------------------------------
@dataclass
class SendSummary:
    outcomes: Counter = field(default_factory=Counter)  # (channel, status) -> count
    seconds: float = 0.0

    def add(self, other: SendSummary) -> None:
        self.outcomes.update(other.outcomes)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def count(self, status: str) -> int:
        return sum(n for (_, s), n in self.outcomes.items() if s == status)

    def as_dict(self) -> dict[str, Any]:
        by_channel: dict[str, dict[str, int]] = defaultdict(dict)
        for (channel, status), n in sorted(self.outcomes.items()):
            by_channel[channel][status] = n
        return {"deliveries": self.total, "by_channel": dict(by_channel), "seconds": round(self.seconds, 3)}


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th attempt failed for a reason that may pass (with jitter)."""
    base = BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (spreading retries, not a secret)


def _mail_domain() -> str:
    """The right-hand side of our Message-IDs: the service's public host name (the machine's as a fallback)."""
    return urlsplit(settings.PUBLIC_URL).hostname or str(DNS_NAME)


def delivery_reference(delivery: Delivery) -> str:
    """Our reference of one delivery, handed to the providers (idempotency key, print queue file name)."""
    return f"permis-{delivery.pk}-{delivery.channel}"


class _Outcome(Exception):
    def __init__(self, message: str, *, temporary: bool, retry_after: float | None = None):
        super().__init__(message)
        self.temporary = temporary
        self.retry_after = retry_after


def _classify(error: BaseException) -> _Outcome:
    """Temporary (try again later) or permanent (give up), with a message for agents."""
    if isinstance(error, _Outcome):
        return error
    if isinstance(error, TemporaryFailure):
        return _Outcome(str(error), temporary=True, retry_after=error.retry_after)
    if isinstance(error, PermanentFailure):
        return _Outcome(str(error), temporary=False)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        answer = "; ".join(f"{to}: {code} {text!r}" for to, (code, text) in error.recipients.items())
        return _Outcome(
            f"serveur SMTP : destinataire refusé ({answer})", temporary=all(400 <= c < 500 for c in codes)
        )
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        text = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else error.smtp_error
        )
        return _Outcome(f"serveur SMTP : {code} {text}", temporary=not 500 <= code < 600)
    if isinstance(error, smtplib.SMTPServerDisconnected | socket.timeout | TimeoutError | OSError):
        return _Outcome(f"connexion ou écriture impossible : {type(error).__name__}: {error}", temporary=True)
    if isinstance(error, ValueError):  # a malformed address or text: sending it again cannot help
        return _Outcome(f"message refusé : {error}", temporary=False)
    # Anything else is a bug or an unforeseen answer: retried, and after MAX_ATTEMPTS visible to agents.
    return _Outcome(f"erreur inattendue : {type(error).__name__}: {error}", temporary=True)


class _Sender:
    """Sends one batch of claimed deliveries; its SMTP connections and SMS backend serve the whole batch."""

    def __init__(self, now: dt.datetime):
        self.now = now
        self.today = timezone.localdate(now)
        self._mails: list[Any] = []  # one SMTP connection per lane (settings.EMAIL_CONNECTIONS)
        self._mail_down: _Outcome | None = None
        self._threads = None
        self._threads_width = 0
        self._sms = None
        self._queue = None

    # `emails` fills the "what was sent" fields of the rows it sent and returns the others' failures; `sms` and
    # `letter` fill one row's fields or raise.
    def emails(self, rows: Sequence[Delivery]) -> dict[int, _Outcome]:
        """Send the emails of `rows`, over up to ``settings.EMAIL_CONNECTIONS`` SMTP connections at once.

        An email costs several round trips (MAIL, RCPT, DATA, the message) during which the sender only waits:
        the messages are rendered here, in this thread (the database connection is not shared between
        threads), and only the SMTP conversations (with the MIME encoding) run side by side, each connection
        sending its share in order. Fills the "what was sent" fields of every row accepted by the server;
        returns the failure of each other row, by delivery id.
        """
        failures: dict[int, _Outcome] = {}
        ready: list[tuple[Delivery, EmailMessage, Any]] = []
        for row in rows:
            # The server could not be reached in this batch: do not wait on it again.
            if self._mail_down is not None:
                failures[row.pk] = self._mail_down
                continue
            try:
                ready.append((row, *self._email_message(row)))
            except Exception as error:  # noqa: BLE001 (classified and kept on the row)
                failures[row.pk] = _classify(error)
        if not ready:
            return failures
        width = max(1, min(int(getattr(settings, "EMAIL_CONNECTIONS", 1)), len(ready)))
        while len(self._mails) < width:
            self._mails.append(None)
        shares = [ready[lane::width] for lane in range(width)]
        if width == 1:
            results = [self._send_share(0, shares[0])]
        else:
            results = list(self._pool(width).map(self._send_share, range(width), shares))
        for result in results:
            failures.update(result)
        for row, message, rendered in ready:
            if row.pk not in failures:
                row.template, row.subject, row.body = rendered.template, rendered.subject, rendered.body
                row.provider_ref = message.extra_headers["Message-ID"][:100]
        return failures

    def _email_message(self, row: Delivery) -> tuple[EmailMessage, Any]:
        notice, holder = row.notice, row.notice.licence.holder
        rendered = messages.render_email(notice, holder, made_available_on=self.today, language=row.language)
        message_id = make_msgid(idstring=str(row.pk), domain=_mail_domain())
        message = EmailMessage(
            subject=rendered.subject,
            body=rendered.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[row.address],
            headers={"Message-ID": message_id, "X-Permis-Reference": delivery_reference(row)},
        )
        return message, rendered

    def _send_share(self, lane: int, share: list[tuple[Delivery, EmailMessage, Any]]) -> dict[int, _Outcome]:
        """Send `share` in order on connection `lane` (run in a worker thread when there are several)."""
        failures: dict[int, _Outcome] = {}
        for index, (row, message, _rendered) in enumerate(share):
            if self._mail_down is not None:
                failures.update((later.pk, self._mail_down) for later, _, _ in share[index:])
                break
            mail = self._mails[lane]
            if mail is None:
                mail = self._mails[lane] = get_connection(fail_silently=False)
            try:
                mail.open()  # a no-op while the connection is open: one connection per lane for the batch
            except Exception as error:  # noqa: BLE001
                self._mail_down = _classify(error)
                self._close(lane)
                failures.update((later.pk, self._mail_down) for later, _, _ in share[index:])
                break
            try:
                sent = mail.send_messages([message])
            except Exception as error:  # noqa: BLE001
                # The next message opens a new connection: the server may have dropped this one.
                self._close(lane)
                failures[row.pk] = _classify(error)
                continue
            if not sent:
                failures[row.pk] = _Outcome(
                    "le serveur de courriel n'a pas accepté le message", temporary=True
                )
        return failures

    def _pool(self, width: int):
        from concurrent.futures import ThreadPoolExecutor

        if self._threads is None or self._threads_width < width:
            if self._threads is not None:
                self._threads.shutdown()
            self._threads = ThreadPoolExecutor(max_workers=width, thread_name_prefix="permis-smtp")
            self._threads_width = width
        return self._threads

    def sms(self, row: Delivery) -> None:
        from .channels.sms import SmsMessage, get_sms_backend

        notice, holder = row.notice, row.notice.licence.holder
        rendered = messages.render_sms(notice, holder, made_available_on=self.today, language=row.language)
        if self._sms is None:
            self._sms = get_sms_backend()
        provider_id = self._sms.send(
            SmsMessage(to=row.address, text=rendered.body, reference=delivery_reference(row))
        )
        row.template, row.body, row.provider_ref = rendered.template, rendered.body, str(provider_id)[:100]

    def letter(self, row: Delivery) -> None:
        from .channels.post import PrintQueue
        from .documents import render_letter

        notice, holder = row.notice, row.notice.licence.holder
        lines = postal_lines(holder)  # the address now: a holder who moved since planning gets it at home
        pdf = render_letter(notice, language=row.language, registered=row.channel == Channel.REGISTERED)
        if self._queue is None:
            self._queue = PrintQueue()
        path = self._queue.add(
            day=self.today,
            reference=delivery_reference(row),
            pdf=pdf,
            recipient=lines,
            registered=row.channel == Channel.REGISTERED,
            code=notice.code,
        )
        row.address = ", ".join(lines)
        row.template = f"letter/{notice.code}.{messages.language_of(row.language)}"
        row.document_sha256 = hashlib.sha256(pdf).hexdigest()
        row.document_path = str(path)[:300]
        row.provider_ref = delivery_reference(row)

    def _close(self, lane: int) -> None:
        mail, self._mails[lane] = self._mails[lane], None
        if mail is not None:
            try:
                mail.close()
            except Exception:
                log.debug("closing the SMTP connection failed", exc_info=True)

    def close_mail(self) -> None:
        for lane in range(len(self._mails)):
            self._close(lane)
        if self._threads is not None:
            self._threads.shutdown()
            self._threads, self._threads_width = None, 0


def _make_available(rows: list[Delivery], at: dt.datetime) -> None:
    """``legal.make_available`` for a batch: the same rule (the legal day of `at` plus the delay in force that
    day, from ``permis.notices.legal``), set on the rows and written with their outcome by ``_write``, which
    keeps a date already there (the first date stands). One statement per row instead of four."""
    from . import legal

    if not rows:
        return
    day = legal.legal_day(at)
    deemed = day + dt.timedelta(days=legal.deemed_after_days(day))
    for row in rows:
        if row.made_available_at is None:
            row.made_available_at, row.deemed_received_on = at, deemed


def _record_failure(row: Delivery, outcome: _Outcome, now: dt.datetime) -> None:
    row.last_error = str(outcome)[:2000]
    if outcome.temporary and row.attempts < MAX_ATTEMPTS:
        row.status = DeliveryStatus.TEMPORARY_FAILURE
        delay = backoff(row.attempts)
        if outcome.retry_after:
            delay = max(delay, dt.timedelta(seconds=outcome.retry_after))
        row.next_attempt_at = now + delay
    else:
        row.status = DeliveryStatus.FAILED
        if outcome.temporary:
            row.last_error = f"{row.last_error} (abandon après {row.attempts} tentatives)"[:2000]


def send_claimed(deliveries: Sequence[Delivery], *, now: dt.datetime | None = None) -> SendSummary:
    """Send deliveries claimed by one worker and write each outcome; returns the counts by channel and outcome.

    Rows are sent channel by channel (emails through one SMTP connection), and their outcomes written every
    FLUSH_EVERY rows, in one transaction that also rolls the notices' statuses up. See the module's docstring
    for the failure rules and the at-least-once window.
    """
    start = time.perf_counter()
    summary = SendSummary()
    fixed_now = now
    sender = _Sender(now or timezone.now())
    by_channel: dict[str, list[Delivery]] = defaultdict(list)
    for row in deliveries:
        if row.status != DeliveryStatus.SENDING:
            raise ValueError(f"delivery {row.pk} is {row.status}, not claimed: claim() it first")
        by_channel[row.channel].append(row)
    try:
        for channel in (Channel.ACCOUNT, Channel.EMAIL, Channel.SMS, Channel.REGISTERED, Channel.POST):
            rows = by_channel.get(channel, [])
            for first in range(0, len(rows), FLUSH_EVERY):
                chunk = rows[first : first + FLUSH_EVERY]
                at = fixed_now or timezone.now()
                sender.now = at
                _send_chunk(sender, channel, chunk, at)
                _write(chunk, at)
                summary.outcomes.update((row.channel, row.status) for row in chunk)
    finally:
        sender.close_mail()
    summary.seconds = time.perf_counter() - start
    return summary


def _send_chunk(sender: _Sender, channel: str, rows: list[Delivery], at: dt.datetime) -> None:
    if channel == Channel.ACCOUNT:
        try:
            _make_available(rows, at)
        except Exception as error:  # noqa: BLE001 (recorded on every row of the chunk, for agents)
            from .legal import LegalError

            outcome = (
                _Outcome(str(error), temporary=False) if isinstance(error, LegalError) else _classify(error)
            )
            for row in rows:
                _record_failure(row, outcome, at)
            return
        for row in rows:
            row.status, row.sent_at, row.last_error = DeliveryStatus.DELIVERED, at, ""
        return
    if channel == Channel.EMAIL:
        failures = sender.emails(rows)
        for row in rows:
            outcome = failures.get(row.pk)
            if outcome is None:
                row.status, row.sent_at, row.last_error = DeliveryStatus.DELIVERED, at, ""
            else:
                _record_failure(row, outcome, at)
                log.info("delivery %s (email) attempt %d: %s", row.pk, row.attempts, row.last_error)
        return
    send = {
        Channel.SMS: sender.sms,
        Channel.POST: sender.letter,
        Channel.REGISTERED: sender.letter,
    }[channel]
    for row in rows:
        try:
            send(row)
        except Exception as error:  # noqa: BLE001 (every failure is classified and kept on the row)
            _record_failure(row, _classify(error), at)
            log.info("delivery %s (%s) attempt %d: %s", row.pk, row.channel, row.attempts, row.last_error)
            continue
        row.status, row.sent_at, row.last_error = DeliveryStatus.DELIVERED, at, ""


def _write(rows: list[Delivery], now: dt.datetime | None = None) -> None:
    """Write the outcomes of rows this worker still owns, then roll their notices up, in one transaction.

    An email that ended `failed` sends its letter by post in the same transaction (``fall_back_to_post``, `now`
    being the time of the attempt).

    Each row's UPDATE is guarded by the claim it was sent under (``claimed_by``, ``claimed_at``, still
    ``sending``): a worker that lost its lease writes nothing over a newer attempt. On PostgreSQL one statement
    writes the whole chunk (``_write_postgresql``); elsewhere one parameterised UPDATE per row, sent together
    (``_write_each``). Django's ``bulk_update`` would build the same in Python expressions, ten times slower at
    these volumes.
    """
    if not rows:
        return
    with transaction.atomic():
        written = _write_postgresql(rows) if connection.vendor == "postgresql" else _write_each(rows)
        if 0 <= written < len(rows):
            log.warning(
                "%d deliveries were claimed again by another worker before this one wrote them",
                len(rows) - written,
            )
        fall_back_to_post(
            [
                row.notice_id
                for row in rows
                if row.channel == Channel.EMAIL and row.status == DeliveryStatus.FAILED
            ],
            now=now,
        )
        _roll_up(sorted({row.notice_id for row in rows}))


def _write_each(rows: list[Delivery]) -> int:
    """The outcomes of a chunk, one guarded UPDATE per row (``executemany``); returns how many were written."""
    fields = [Delivery._meta.get_field(name) for name in RESULT_FIELDS]
    claimed_at = Delivery._meta.get_field("claimed_at")
    quote = connection.ops.quote_name
    assignments = ", ".join(
        f"{quote(f.column)} = COALESCE({quote(f.column)}, %s)"
        if f.name in FIRST_STANDS
        else f"{quote(f.column)} = %s"
        for f in fields
    )
    statement = (
        f"UPDATE {quote(Delivery._meta.db_table)} SET {assignments} "  # noqa: S608 (names from the model)
        f"WHERE id = %s AND status = %s AND claimed_by = %s AND claimed_at = %s"
    )
    params = [
        [
            *(f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields),
            row.pk,
            DeliveryStatus.SENDING.value,
            row.claimed_by,
            claimed_at.get_db_prep_save(row.claimed_at, connection),
        ]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(statement, params)
        return cursor.rowcount


def _write_postgresql(rows: list[Delivery]) -> int:
    """The outcomes of a chunk in one ``UPDATE ... FROM jsonb_to_recordset(...)``: the chunk travels as one JSON
    document (encoded in C; psycopg's per-element array adaptation and the per-row pipeline each cost a large
    share of a sender's CPU). Same guard and the same first-date-stands rule as the per-row statement; returns
    how many rows were written."""
    fields = [Delivery._meta.get_field(name) for name in RESULT_FIELDS]
    quote = connection.ops.quote_name
    table = quote(Delivery._meta.db_table)
    names = [f"v{index}" for index in range(len(fields))]
    assignments = ", ".join(
        f"{quote(f.column)} = COALESCE(d.{quote(f.column)}, v.{name})"
        if f.name in FIRST_STANDS
        else f"{quote(f.column)} = v.{name}"
        for f, name in zip(fields, names, strict=True)
    )
    columns = ", ".join(f"{name} {f.db_type(connection)}" for f, name in zip(fields, names, strict=True))
    statement = (
        f"UPDATE {table} AS d SET {assignments} "  # noqa: S608 (names and types from the model)
        "FROM jsonb_to_recordset(%s::jsonb) "
        f"AS v(id bigint, claimed_by text, claimed_at timestamptz, {columns}) "
        "WHERE d.id = v.id AND d.status = %s AND d.claimed_by = v.claimed_by AND d.claimed_at = v.claimed_at"
    )
    attnames = [f.attname for f in fields]

    def plain(value: Any) -> Any:
        if isinstance(value, dt.date):  # datetimes too: ISO 8601 with the offset, to the microsecond
            return value.isoformat()
        return value if value is None or isinstance(value, int | float) else str(value)

    document = [
        {
            "id": row.pk,
            "claimed_by": row.claimed_by,
            "claimed_at": row.claimed_at.isoformat(),
            **{name: plain(getattr(row, attname)) for name, attname in zip(names, attnames, strict=True)},
        }
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, [json.dumps(document), DeliveryStatus.SENDING.value])
        return cursor.rowcount


def _roll_up(notice_ids: Sequence[int]) -> None:
    """Bring each notice's status in line with its deliveries, a few bulk updates for the whole batch.

    ``failed`` as soon as one delivery failed (agents must see it), ``delivered`` when all are, otherwise
    ``temporary_failure`` when one is waiting for a retry, and ``sending`` while work remains. An email whose
    place a postal letter took (``replaced_by_post``) is left out: the letter follows its postal delivery. The
    notices are locked first (in id order, so two workers cannot deadlock), so that two workers finishing the
    two deliveries of the same notice at the same time cannot both read the other's as unfinished.
    """
    if not notice_ids:
        return
    ids = sorted(notice_ids)
    list(Notice.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    if connection.vendor == "postgresql":
        _roll_up_postgresql(ids)
        return
    rows: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for notice_id, channel, status, code in Delivery.objects.filter(notice_id__in=ids).values_list(
        "notice_id", "channel", "status", "notice__code"
    ):
        rows[notice_id].append((channel, status, code))
    statuses: dict[int, set[str]] = {}
    for notice_id, found_rows in rows.items():
        channels = {channel for channel, _status, _code in found_rows}
        statuses[notice_id] = {
            status
            for channel, status, code in found_rows
            if not _is_replaced(channel, status, code, channels)
        }
    targets: dict[str, list[int]] = defaultdict(list)
    for notice_id, found in statuses.items():
        if DeliveryStatus.FAILED in found:
            target = NoticeStatus.FAILED
        elif found == {DeliveryStatus.DELIVERED}:
            target = NoticeStatus.DELIVERED
        elif DeliveryStatus.TEMPORARY_FAILURE in found:
            target = NoticeStatus.TEMPORARY_FAILURE
        else:
            target = NoticeStatus.SENDING
        targets[target].append(notice_id)
    for target, members in targets.items():
        Notice.objects.filter(pk__in=members).exclude(status=target).update(status=target)


def _roll_up_postgresql(ids: list[int]) -> None:
    """``_roll_up``'s rule in one statement, once the notices are locked (a statement of its own: the read of
    the deliveries must start after the lock is granted, to see what another worker committed meanwhile). The
    ``NOT (...)`` leaves out the emails a postal letter replaced, the rule of ``replaced_by_post``."""
    quote = connection.ops.quote_name
    notices = quote(Notice._meta.db_table)
    deliveries = quote(Delivery._meta.db_table)
    statement = (
        f"UPDATE {notices} AS n SET status = t.target FROM ("  # noqa: S608 (names from the models)
        "  SELECT d.notice_id, CASE"
        "    WHEN bool_or(d.status = %(failed)s) THEN %(n_failed)s"
        "    WHEN bool_and(d.status = %(delivered)s) THEN %(n_delivered)s"
        "    WHEN bool_or(d.status = %(temporary)s) THEN %(n_temporary)s"
        "    ELSE %(n_sending)s END AS target"
        f"  FROM {deliveries} AS d JOIN {notices} AS m ON m.id = d.notice_id"
        "  WHERE d.notice_id = ANY(%(ids)s) AND NOT ("
        "    d.channel = %(email)s AND d.status = %(failed)s AND m.code <> ALL(%(registered_codes)s)"
        f"    AND EXISTS (SELECT 1 FROM {deliveries} AS p"
        "      WHERE p.notice_id = d.notice_id AND p.channel = ANY(%(postal)s)))"
        "  GROUP BY d.notice_id"
        ") AS t WHERE n.id = t.notice_id AND n.status <> t.target"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            {
                "failed": DeliveryStatus.FAILED.value,
                "delivered": DeliveryStatus.DELIVERED.value,
                "temporary": DeliveryStatus.TEMPORARY_FAILURE.value,
                "n_failed": NoticeStatus.FAILED.value,
                "n_delivered": NoticeStatus.DELIVERED.value,
                "n_temporary": NoticeStatus.TEMPORARY_FAILURE.value,
                "n_sending": NoticeStatus.SENDING.value,
                "ids": ids,
                "email": Channel.EMAIL.value,
                "registered_codes": sorted(REGISTERED_CODES),
                "postal": [channel.value for channel in POSTAL_CHANNELS],
            },
        )


def deliver_due(
    *,
    worker: str,
    batch: int = 500,
    now: dt.datetime | None = None,
    channels: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SendSummary:
    """Claim and send until nothing is due; the summary counts every outcome by channel."""
    start = time.perf_counter()
    summary = SendSummary()
    channels = list(channels) if channels else None
    while True:
        rows = claim(worker=worker, limit=batch, channels=channels, now=now)
        if not rows:
            break
        summary.add(send_claimed(rows, now=now))
        if progress:
            progress(len(rows))
    summary.seconds = time.perf_counter() - start
    return summary


def due_count(now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    return Delivery.objects.filter(
        Q(status__in=DUE_STATUSES, next_attempt_at__lte=now)
        | Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - LEASE)
    ).count()


# -- agents --------------------------------------------------------------------------------------------------
def retry(delivery: Delivery, *, by: str, now: dt.datetime | None = None) -> Delivery:
    """Put a failed delivery back to `pending` (an agent's decision, after fixing the cause).

    The address is taken again from the holder (the usual cause of a failure is a wrong or missing address,
    fixed in the file before retrying); attempts start again from zero. Refuses a delivery that is not
    `failed`: a delivered letter is never sent twice, and one in progress is the worker's; and an email whose
    letter went by post instead (``replaced_by_post``): the letter reached the holder another way.
    """
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            Delivery.objects.select_for_update().select_related("notice__licence__holder").get(pk=delivery.pk)
        )
        if row.status != DeliveryStatus.FAILED:
            raise ValueError(
                f"envoi {row.pk} : seul un envoi en échec peut être relancé (état : {row.status})"
            )
        if Delivery.objects.filter(replaced_by_post(), pk=row.pk).exists():
            raise ValueError(
                f"envoi {row.pk} : la lettre est partie par la poste à la place de ce courriel, "
                "il n'y a rien à relancer"
            )
        holder = row.notice.licence.holder
        try:
            address = _address(row.channel, holder)
        except ValueError as error:
            row.last_error = f"{error} (relance refusée par {by} le {timezone.localtime(now):%d/%m/%Y %H:%M})"
            row.save(update_fields=["last_error"])
            raise
        row.address = address
        row.status = DeliveryStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.claimed_by = ""
        row.claimed_at = None
        row.last_error = (
            f"relancé par {by} le {timezone.localtime(now):%d/%m/%Y %H:%M} ; erreur : {row.last_error}"[:2000]
        )
        row.save(
            update_fields=[
                "address",
                "status",
                "attempts",
                "next_attempt_at",
                "claimed_by",
                "claimed_at",
                "last_error",
            ]
        )
        _roll_up([row.notice_id])
    log.info("delivery %s (%s) put back to pending by %s", row.pk, row.channel, by)
    return row
