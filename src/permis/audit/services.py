"""The only writer of the access log and of share codes.

- ``log_access``: append one read of a holder's file to the hash-chained log, on the chain of the holder
  (``chain_of``: holder id modulo ``settings.AUDIT_CHAINS``). Every door that shows a file to anyone but its
  holder (back office, API, share code) calls it before the file is shown; a failed append fails the request.
- ``verify_chain``: recompute every chain and say what was changed, deleted, inserted or reordered, and where.
- ``create_share`` / ``revoke_share`` / ``check_share``: the holder's share codes and their use by a third party,
  who learns the existence, categories and validity of the licence, never its points (L225-5, L223-7).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from permis.config.database import prepared_cursor
from permis.registry.models import CURRENT_LICENCE_FIRST, Holder, Licence

from .models import AccessLog, ChainHead, Channel, Purpose, Role, ShareCode

GENESIS = hashlib.sha256(b"permis:access-log:genesis").hexdigest()


def genesis(chain: int) -> str:
    """The `prev_hash` of a chain's first entry: chain 0 keeps the single chain's genesis (its entries predate
    the chains), each other chain has its own, so every entry's hash depends on the chain it was written to."""
    return (
        GENESIS if chain == 0 else hashlib.sha256(f"permis:access-log:genesis:{chain}".encode()).hexdigest()
    )


def chain_of(holder_id: int) -> int:
    """The chain a holder's reads are appended to."""
    return holder_id % settings.AUDIT_CHAINS


class AuditError(ValueError):
    """A request the audit services refuse; `field` names the input at fault, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# -- the access log -----------------------------------------------------------------------------------------------
# The hashed fields, in the order they are serialised; `verify_chain` reads exactly these columns.
HASHED = (
    "seq",
    "at",
    "actor",
    "actor_label",
    "role",
    "holder_id",
    "licence_id",
    "purpose",
    "purpose_detail",
    "shown",
    "channel",
    "request_id",
)
# The accepted values, as sets: an enum's `.values` builds its list anew at every call.
ROLES, PURPOSES, CHANNELS = frozenset(Role.values), frozenset(Purpose.values), frozenset(Channel.values)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _canonical(values: Sequence) -> bytes:
    """A row as hashed: the HASHED fields in order, the time in UTC to the microsecond, as compact JSON."""
    payload = list(values)
    payload[1] = payload[1].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload[9] = list(payload[9])
    return _dumps(payload).encode()


def _hash_values(prev_hash: str, values: Sequence) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(values)).hexdigest()


def row_hash(prev_hash: str, row: AccessLog) -> str:
    """The hash of `row` chained to `prev_hash`: sha256(previous hash, newline, canonical row)."""
    return _hash_values(prev_hash, [getattr(row, name) for name in HASHED])


def _head_for_update(chain: int) -> ChainHead:
    """The head of `chain`, locked until the end of the transaction (SELECT … FOR UPDATE on PostgreSQL; SQLite
    serialises writers itself); made by the chain's first append."""
    head = ChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        # id chain + 1: chain 0's head is the single chain's row id 1, written with that explicit id.
        ChainHead.objects.get_or_create(
            chain=chain, defaults={"id": chain + 1, "seq": 0, "hash": genesis(chain)}
        )
        head = ChainHead.objects.select_for_update().get(chain=chain)
    return head


def log_access(
    *,
    actor: str,
    actor_label: str,
    role: str,
    holder: Holder | int,
    licence: Licence | int | None = None,
    purpose: str,
    shown: Sequence[str],
    channel: str,
    purpose_detail: str = "",
    request_id: str = "",
) -> AccessLog:
    """Append one read of `holder`'s file to the log and return the entry.

    `actor` identifies the reader for machines ("user:12", "key:ab12cd34", "share:7", "system"), `actor_label`
    for the holder ("Agent Martin, préfecture du Rhône"). `purpose` is one of ``Purpose`` and
    ``Purpose.OTHER`` needs `purpose_detail`. `shown` lists what was displayed ("identité", "catégories",
    "solde"…). Call it before showing the file (inside the transaction that reads it, if there is one): if
    the read fails there is no entry, and if the entry cannot be written the request fails.

    The entry goes to the holder's chain (``chain_of``): appends lock only that chain's head, from the
    ``SELECT … FOR UPDATE`` to the commit (the commit waits for the disk), so reads of holders on different
    chains commit at the same time. Outside a transaction that is 3 statements between BEGIN and COMMIT.
    """
    if role not in ROLES:
        raise AuditError("role", f"{role!r} is not one of {', '.join(Role.values)}")
    if purpose not in PURPOSES:
        raise AuditError("purpose", f"{purpose!r} is not one of {', '.join(Purpose.values)}")
    if channel not in CHANNELS:
        raise AuditError("channel", f"{channel!r} is not one of {', '.join(Channel.values)}")
    if purpose == Purpose.OTHER and not purpose_detail.strip():
        raise AuditError("purpose_detail", "the purpose 'other' must say what the file is read for")
    if not actor or not actor_label.strip():
        raise AuditError("actor", "every entry names its reader (actor and actor_label)")
    if isinstance(shown, str) or not all(isinstance(item, str) for item in shown):
        raise AuditError("shown", "a list of short texts, e.g. ['identité', 'catégories']")
    holder_id = holder.pk if isinstance(holder, Holder) else holder
    licence_id = licence.pk if isinstance(licence, Licence) else licence
    chain = chain_of(holder_id)
    if connection.vendor == "postgresql":
        return _append_postgresql(
            chain,
            [
                actor[:64],
                actor_label[:200],
                role,
                holder_id,
                licence_id,
                purpose,
                purpose_detail[:300],
                list(shown),
                channel,
                request_id[:64],
            ],
        )
    with transaction.atomic():
        head = _head_for_update(chain)
        row = AccessLog(
            chain=chain,
            seq=head.seq + 1,
            at=timezone.now(),
            actor=actor[:64],
            actor_label=actor_label[:200],
            role=role,
            holder_id=holder_id,
            licence_id=licence_id,
            purpose=purpose,
            purpose_detail=purpose_detail[:300],
            shown=list(shown),
            channel=channel,
            request_id=request_id[:64],
            prev_hash=head.hash,
        )
        row.hash = row_hash(head.hash, row)
        row.save(force_insert=True)
        ChainHead.objects.filter(pk=head.pk).update(seq=row.seq, hash=row.hash)
    return row


# permis_audit_append (migration 0004): the head locked, the entry dated, numbered, hashed, inserted, the head
# moved, in one statement. Its arguments are the entry's fields after `at`, in HASHED's order, then their
# canonical JSON after `seq` and `at` (the "tail" the function hashes behind them).
APPEND = "SELECT r_id, r_seq, r_at, r_prev, r_hash FROM permis_audit_append(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def _append_postgresql(chain: int, fields: list) -> AccessLog:
    """``log_access`` on PostgreSQL: one round trip (the five of the Python path are done by the server)."""
    tail = _dumps(fields)[1:]  # '"actor","label",…]': the canonical JSON of the fields after seq and at
    shown = fields[7]
    params = [chain, genesis(chain), *fields[:7], _dumps(shown), *fields[8:], tail]
    with prepared_cursor() as cursor:
        cursor.execute(APPEND, params)
        pk, seq, at, prev_hash, digest = cursor.fetchone()
    names = HASHED[2:]
    row = AccessLog(
        id=pk,
        chain=chain,
        seq=seq,
        at=at,
        prev_hash=prev_hash,
        hash=digest,
        **dict(zip(names, fields, strict=True)),
    )
    row._state.adding = False
    row._state.db = connection.alias
    return row


def verify_chain(batch: int = 5000) -> list[str]:
    """Every discrepancy of the access log, one sentence each naming its chain (empty when the log is intact).

    Checks each chain that has a head or an entry, reading it in `seq` order, in batches: numbers follow each
    other (a gap is a deleted row), each row links to the hash of the one before, the first to its chain's
    genesis (a broken link: a row inserted, deleted or moved, also from another chain), each row's hash matches
    its content (a changed row), times never go backwards (rows reordered), and the chain's head names its last
    row (rows deleted at the end, or appended without the service).
    """
    heads = {head.chain: (head.seq, head.hash) for head in ChainHead.objects.all()}
    chains = set(heads)
    found = -1
    while True:  # the chains that have entries, one index probe each (no scan of the table for DISTINCT)
        nxt = (
            AccessLog.objects.filter(chain__gt=found)
            .order_by("chain")
            .values_list("chain", flat=True)
            .first()
        )
        if nxt is None:
            break
        chains.add(nxt)
        found = nxt
    problems: list[str] = []
    for chain in sorted(chains):
        problems.extend(_verify_one(chain, heads.get(chain), batch))
    return problems


def _verify_one(chain: int, head: tuple[int, str] | None, batch: int) -> list[str]:
    """The discrepancies of one chain, given its head's (seq, hash) or None when it has no head row."""
    problems: list[str] = []
    where = f"access log chain {chain}"
    prev_seq, prev_hash, prev_at = 0, genesis(chain), None
    last = 0
    while True:
        rows = list(
            AccessLog.objects.filter(chain=chain, seq__gt=last)
            .order_by("seq")
            .values_list(*HASHED, "prev_hash", "hash")[:batch]
        )
        if not rows:
            break
        for row in rows:
            values, row_prev, stored = row[:-2], row[-2], row[-1]
            seq, at = values[0], values[1]
            if seq != prev_seq + 1:
                problems.append(
                    f"{where}: entries #{prev_seq + 1} to #{seq - 1} are missing (deleted rows)"
                    if seq > prev_seq + 1
                    else f"{where}, entry #{seq}: numbered out of order after #{prev_seq}"
                )
            if row_prev != prev_hash:
                before = f"entry #{prev_seq}" if prev_seq else "the chain's genesis"
                problems.append(
                    f"{where}, entry #{seq}: broken link, its previous hash is not the hash of {before} "
                    "(a row inserted, deleted or moved)"
                )
            if _hash_values(row_prev, values) != stored:
                problems.append(f"{where}, entry #{seq}: changed, its content no longer matches its hash")
            if prev_at is not None and at < prev_at:
                problems.append(
                    f"{where}, entry #{seq}: dated {at.isoformat()}, before entry #{prev_seq} (reordered)"
                )
            prev_seq, prev_hash, prev_at = seq, stored, at
        last = rows[-1][0]
    if head is None:
        problems.append(
            f"{where}: entries #1 to #{prev_seq} were added without the service (the chain has no head)"
        )
        return problems
    head_seq, head_hash = head
    if head_seq != prev_seq or head_hash != prev_hash:
        if head_seq > prev_seq:
            problems.append(
                f"{where}: the chain head names entry #{head_seq} but the last entry is #{prev_seq} "
                "(entries deleted at the end)"
            )
        elif head_seq < prev_seq:
            problems.append(
                f"{where}: entries #{head_seq + 1} to #{prev_seq} were added without the service "
                f"(the chain head names entry #{head_seq})"
            )
        else:
            problems.append(f"{where}: the chain head's hash does not match entry #{prev_seq}")
    return problems


def entry_count() -> int:
    return AccessLog.objects.count()


@dataclass(frozen=True)
class HeadCheck:
    """One chain's head against its entries, as ``check_heads`` found it."""

    chain: int
    seq: int  # the entry the head names
    state: str  # "ok", "missing" (the head's entry is gone), "changed" (its hash differs), "ahead" (later entries)


def check_heads() -> list[HeadCheck]:
    """Each chain's head against the entry it names, in one statement (one snapshot: an append commits its
    entry and its head together, so a read under way never sees one without the other).

    The cheap part of ``verify_chain``: it sees the last entries of a chain deleted, or entries appended behind
    the service's back, since the last full verification; a changed row in the middle needs ``verify_chain``."""
    last = AccessLog.objects.filter(chain=OuterRef("chain"), seq=OuterRef("seq"))
    heads = ChainHead.objects.annotate(
        entry_hash=Subquery(last.values("hash")[:1]),
        later=Exists(AccessLog.objects.filter(chain=OuterRef("chain"), seq__gt=OuterRef("seq"))),
    ).order_by("chain")
    checks = []
    for head in heads:
        if head.later:
            state = "ahead"
        elif head.seq and head.entry_hash is None:
            state = "missing"
        elif head.seq and head.entry_hash != head.hash:
            state = "changed"
        else:
            state = "ok"
        checks.append(HeadCheck(head.chain, head.seq, state))
    return checks


def accesses_of(holder: Holder | int) -> QuerySet[AccessLog]:
    """The holder's own view of who read their file, newest first (the portal's "Consultations" page)."""
    holder_id = holder.pk if isinstance(holder, Holder) else holder
    return AccessLog.objects.filter(holder_id=holder_id).order_by("-at", "-chain", "-seq")


# -- share codes --------------------------------------------------------------------------------------------------
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0, 1: nothing to misread when dictated
CODE_LENGTH = 10
MAX_SHARE_DAYS = 30
INVALID = _("Code de partage invalide ou expiré.")
# What a third party is shown: never the points (L225-5, L223-7).
SHARE_SHOWN = ("identité", "numéro de permis", "catégories", "validité")


def normalise_code(code: str) -> str:
    """The code as typed, without spaces or dashes, upper-cased (what is hashed)."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_code(code: str) -> str:
    # HMAC-SHA256 under a key derived from SECRET_KEY for share codes (Django's ``salted_hmac``).
    return salted_hmac("permis.audit.share-code:", normalise_code(code), algorithm="sha256").hexdigest()


def format_code(raw: str) -> str:
    """'ABCDEFGHJK' → 'ABCD-EFGH-JK'."""
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def create_share(holder: Holder | int, days: int, label: str = "") -> tuple[ShareCode, str]:
    """A new share code for `holder`, valid `days` days (1 to 30). Returns the row and the code, formatted
    "ABCD-EFGH-JK": the only time the code exists in clear; only its keyed hash is stored."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise AuditError("days", "a whole number of days")
    if days < 1 or days > MAX_SHARE_DAYS:
        raise AuditError("days", f"{days} days: a share code lasts from 1 to {MAX_SHARE_DAYS} days")
    holder_id = holder.pk if isinstance(holder, Holder) else holder
    now = timezone.now()
    while True:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        digest = hash_code(raw)
        if not ShareCode.objects.filter(code_hash=digest).exists():
            break
    share = ShareCode.objects.create(
        holder_id=holder_id,
        code_hash=digest,
        hint=raw[-2:],
        label=label.strip()[:100],
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    return share, format_code(raw)


def revoke_share(holder: Holder | int, share_id: int) -> ShareCode:
    """Revoke one of `holder`'s own codes (idempotent). Another holder's code, or none, raises AuditError
    without saying which: a holder cannot learn that someone else's code exists."""
    holder_id = holder.pk if isinstance(holder, Holder) else holder
    with transaction.atomic():
        share = ShareCode.objects.select_for_update().filter(pk=share_id, holder_id=holder_id).first()
        if share is None:
            raise AuditError("share_id", f"no share code {share_id} among this holder's codes")
        if share.revoked_at is None:
            share.revoked_at = timezone.now()
            share.save(update_fields=["revoked_at"])
    return share


@dataclass(frozen=True)
class ShareCategory:
    code: str
    obtained_on: dt.date
    expires_on: dt.date | None
    restrictions: str


@dataclass(frozen=True)
class ShareCheck:
    """What a third party learns from a share code (L225-5): who, which licence, which categories, whether
    it is valid on the day. Deliberately no balance, no history, no address."""

    holder_name: str
    licence_number: str
    status: str  # "valid", "suspended", "invalidated", "annulled": never "zero_balance" (it tells the points)
    status_label: str
    valid: bool
    categories: tuple[ShareCategory, ...]
    checked_on: dt.date
    share_expires_at: dt.datetime


STATUS_LABELS = {
    "valid": _("Valide"),
    "suspended": _("Suspendu"),
    "invalidated": _("Invalidé"),
    "annulled": _("Annulé"),
}


def current_licence(holder_id: int) -> Licence | None:
    """The holder's latest licence, with its projection (one query)."""
    return (
        Licence.objects.select_related("projection")
        .filter(holder_id=holder_id)
        .order_by(*CURRENT_LICENCE_FIRST)
        .first()
    )


def find_share(code: str, at: dt.datetime | None = None) -> ShareCode | None:
    """The live share code for `code` (not expired, not revoked), found by its keyed hash: the lookup costs
    the same whatever the code, and nothing about a near miss leaks."""
    at = at or timezone.now()
    digest = hash_code(code)
    share = ShareCode.objects.filter(code_hash=digest).select_related("holder").first()
    if share is None or not hmac.compare_digest(share.code_hash, digest):
        return None
    if share.revoked_at is not None or share.expires_at <= at:
        return None
    return share


# PostgreSQL: the code, its holder, the holder's current licence (CURRENT_LICENCE_FIRST), its projection and its
# categories in one statement (permis.api.common.FACTS_SELECT's columns, then the code's).
SHARE_COLUMNS = (
    "id",
    "holder_id",
    "code_hash",
    "hint",
    "expires_at",
    "revoked_at",
)  # ShareCode's field order


def _share_facts_sql() -> str:
    from permis.api.common import FACTS_SELECT

    return (
        FACTS_SELECT  # noqa: S608 (constant text: the code's hash is a parameter)
        + ', s."id", s."holder_id", s."code_hash", s."hint", s."expires_at", s."revoked_at" '
        'FROM "audit_sharecode" s JOIN "registry_holder" h ON h."id" = s."holder_id" '
        'LEFT JOIN LATERAL (SELECT * FROM "registry_licence" x WHERE x."holder_id" = h."id" '
        'ORDER BY x."obtained_on" DESC, x."id" DESC LIMIT 1) l ON true '
        'LEFT JOIN "registry_projection" p ON p."licence_id" = l."id" '
        'WHERE s."code_hash" = %s'
    )


def _share_facts(code: str, on: dt.date):
    """(the live share code, the facts of its holder's current licence on `on`), or None when the code is
    unknown, expired or revoked or its holder has no licence: one statement on PostgreSQL, four queries
    through the ORM elsewhere."""
    from permis.api.common import facts_from_row, licence_facts

    if connection.vendor != "postgresql":
        share = find_share(code)
        if share is None:
            return None
        licence = current_licence(share.holder_id)
        if licence is None:
            return None
        licence.holder = share.holder  # already read with the code
        return share, licence_facts(licence, on)
    digest = hash_code(code)
    with prepared_cursor() as cursor:
        cursor.execute(_share_facts_sql(), [digest])
        row = cursor.fetchone()
    if row is None or not hmac.compare_digest(row[-4], digest):
        return None
    share = ShareCode.from_db(connection.alias, SHARE_COLUMNS, row[-6:])
    if share.revoked_at is not None or share.expires_at <= timezone.now() or row[0] is None:
        return None
    return share, facts_from_row(row, on)


def check_share(
    code: str, *, requester_label: str, purpose: str = "", request_id: str = ""
) -> ShareCheck | None:
    """What the holder of `code` lets a third party see, or None ("invalid or expired", nothing more) when the
    code is unknown, expired or revoked. Each answered check is logged on the holder's access log, as read by
    the share code, with the requester's name and purpose as they typed them.

    The licence's state comes from its projection when that holds today, else from the engine
    (``permis.api.common.licence_facts``, the police check's read): the code and holder, the licence and its
    projection, the categories, then the log's append; no transaction around the reads, the append has its own
    and fails the check before anything is answered."""
    if len(normalise_code(code)) != CODE_LENGTH:
        return None
    if not requester_label.strip():
        raise AuditError("requester_label", "the person or company checking the code must give their name")
    found = _share_facts(code, timezone.localdate())
    if found is None:
        return None
    share, facts = found
    holder, licence = facts.licence.holder, facts.licence
    status = (
        facts.public_status
    )  # never "zero_balance": a third party does not learn the points (RULES.md §9)
    categories = tuple(
        ShareCategory(c.code, c.obtained_on, c.expires_on, c.restrictions) for c in facts.categories
    )
    name = " ".join(part for part in (holder.used_name or holder.birth_name, holder.given_names) if part)
    log_access(
        actor=share.actor,
        actor_label=f"{requester_label.strip()} (code …{share.hint})",
        role=Role.THIRD_PARTY,
        holder=holder.pk,
        licence=licence.pk,
        purpose=Purpose.DRIVING_RIGHTS_CHECK,
        purpose_detail=purpose.strip(),
        shown=SHARE_SHOWN,
        channel=Channel.SHARE_CODE,
        request_id=request_id,
    )
    return ShareCheck(
        holder_name=name,
        licence_number=licence.number,
        status=status,
        status_label=str(STATUS_LABELS[status]),
        valid=status == "valid",
        categories=categories,
        checked_on=facts.on,
        share_expires_at=share.expires_at,
    )


@dataclass(frozen=True)
class ShareSummary:
    """One of the holder's codes as the portal lists it."""

    share: ShareCode
    state: str  # "active", "expired", "revoked"
    uses: int
    last_used_at: dt.datetime | None


def shares_of(holder: Holder | int, at: dt.datetime | None = None) -> list[ShareSummary]:
    """The holder's codes, newest first, with their state and how often they were used (from the log)."""
    holder_id = holder.pk if isinstance(holder, Holder) else holder
    at = at or timezone.now()
    shares = list(ShareCode.objects.filter(holder_id=holder_id))
    usage = {
        row["actor"]: (row["n"], row["last"])
        for row in AccessLog.objects.filter(
            holder_id=holder_id, channel=Channel.SHARE_CODE, actor__in=[s.actor for s in shares]
        )
        .values("actor")
        .annotate(n=Count("pk"), last=Max("at"))
        .order_by()
    }
    out = []
    for share in shares:
        state = "revoked" if share.revoked_at else ("expired" if share.expires_at <= at else "active")
        n, last = usage.get(share.actor, (0, None))
        out.append(ShareSummary(share, state, n, last))
    return out


def share_uses(holder: Holder | int, share_id: int) -> QuerySet[AccessLog]:
    """The log entries of one of the holder's codes (empty for someone else's code)."""
    holder_id = holder.pk if isinstance(holder, Holder) else holder
    return AccessLog.objects.filter(
        Q(holder_id=holder_id), channel=Channel.SHARE_CODE, actor=f"share:{share_id}"
    ).order_by("-at", "-chain", "-seq")
