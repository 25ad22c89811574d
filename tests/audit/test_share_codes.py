"""Share codes: at most 30 days, hashed at rest, shown once, revocable by their holder only, every use logged,
and a third party never learns the points (L225-5, L223-7)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from permis.audit import services as audit
from permis.audit.models import AccessLog, ShareCode
from permis.registry import services
from permis.registry.models import Projection
from tests.registry import factories
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db


@pytest.fixture
def lic():
    return factories.licence(categories=[{"code": "B", "obtained_on": dt.date(2010, 3, 1)}])


def test_a_code_is_ten_unambiguous_characters_grouped_by_four(lic) -> None:
    _, code = audit.create_share(lic.holder, 7, "Employeur")
    assert len(code) == 12 and code[4] == "-" and code[9] == "-"
    raw = code.replace("-", "")
    assert len(raw) == 10
    assert set(raw) <= set(audit.ALPHABET)
    assert not set(raw) & set("IL01O")


@pytest.mark.parametrize("days", [0, -1, 31, 365])
def test_a_code_lasts_one_to_thirty_days(lic, days: int) -> None:
    with pytest.raises(audit.AuditError) as error:
        audit.create_share(lic.holder, days)
    assert error.value.field == "days"
    assert ShareCode.objects.count() == 0


def test_thirty_days_is_allowed_and_sets_the_expiry(lic) -> None:
    share, _ = audit.create_share(lic.holder, 30)
    assert share.expires_at - share.created_at == dt.timedelta(days=30)


def test_only_a_keyed_hash_of_the_code_is_stored(lic) -> None:
    share, code = audit.create_share(lic.holder, 7, "Location")
    stored = ShareCode.objects.get(pk=share.pk)
    raw = code.replace("-", "")
    row_text = " ".join(str(getattr(stored, f.attname)) for f in ShareCode._meta.concrete_fields)
    assert raw not in row_text and code not in row_text
    assert stored.code_hash == audit.hash_code(code)
    import hashlib

    assert stored.code_hash != hashlib.sha256(raw.encode()).hexdigest()  # peppered, not a bare sha256
    assert stored.hint == raw[-2:]


def test_the_code_is_shown_once_and_cannot_be_recovered(lic) -> None:
    share, code = audit.create_share(lic.holder, 7)
    summaries = audit.shares_of(lic.holder)
    assert [s.share.pk for s in summaries] == [share.pk]
    for summary in summaries:
        assert code.replace("-", "") not in repr(dataclasses.asdict(summary))


def test_a_third_party_sees_identity_categories_and_validity_never_points(lic) -> None:
    services.record_event(
        lic, "offence", offence("2024-03-01", "2024-03-20", 3), source="feed", sender="ANTAI"
    )
    _, code = audit.create_share(lic.holder, 7)
    check = audit.check_share(
        code.lower().replace("-", " "), requester_label="Transports Dupont", purpose="embauche"
    )
    assert check is not None
    assert check.valid and check.status == "valid"
    assert check.licence_number == lic.number
    assert [c.code for c in check.categories] == ["B"]
    fields = {f.name for f in dataclasses.fields(check)}
    assert not fields & {"balance", "raw_balance", "points", "cap", "movements"}
    text = repr(check)
    assert "balance" not in text and "solde" not in text and "point" not in text.lower()


def test_a_zero_balance_reads_as_valid_to_a_third_party(lic) -> None:
    for committed, final in (("2024-03-01", "2024-03-20"), ("2024-05-01", "2024-05-20")):
        services.record_event(
            lic, "offence", offence(committed, final, 6, "D"), source="feed", sender="ANTAI"
        )
    assert Projection.objects.get(licence=lic).status == "zero_balance"
    _, code = audit.create_share(lic.holder, 7)
    check = audit.check_share(code, requester_label="Loueur", purpose="location")
    assert check is not None and check.status == "valid"  # "solde nul" would tell the points


def test_each_use_is_logged_on_the_holders_access_log(lic) -> None:
    share, code = audit.create_share(lic.holder, 7, "Employeur")
    audit.check_share(code, requester_label="Transports Dupont", purpose="embauche", request_id="req-1")
    audit.check_share(code, requester_label="Transports Dupont", purpose="contrôle annuel")
    entries = list(audit.share_uses(lic.holder, share.pk))
    assert len(entries) == 2
    entry = entries[-1]
    assert entry.channel == "share_code" and entry.role == "third_party"
    assert entry.actor == f"share:{share.pk}"
    assert entry.purpose == "driving_rights_check" and entry.purpose_detail == "embauche"
    assert "Transports Dupont" in entry.actor_label
    assert entry.request_id == "req-1"
    assert "solde" not in entry.shown
    assert audit.shares_of(lic.holder)[0].uses == 2
    assert audit.verify_chain() == []


def test_an_unknown_code_answers_nothing_and_logs_nothing(lic) -> None:
    audit.create_share(lic.holder, 7)
    assert audit.check_share("ABCD-EFGH-JK", requester_label="X", purpose="") is None
    assert audit.check_share("short", requester_label="X", purpose="") is None
    assert AccessLog.objects.count() == 0


def test_an_expired_code_is_invalid(lic) -> None:
    share, code = audit.create_share(lic.holder, 2)
    with time_machine.travel(timezone.now() + dt.timedelta(days=2, seconds=1)):
        assert audit.check_share(code, requester_label="X", purpose="") is None
        assert audit.shares_of(lic.holder)[0].state == "expired"
    with time_machine.travel(timezone.now() + dt.timedelta(days=1)):
        assert audit.check_share(code, requester_label="X", purpose="") is not None


def test_a_revoked_code_is_invalid(lic) -> None:
    share, code = audit.create_share(lic.holder, 7)
    revoked = audit.revoke_share(lic.holder, share.pk)
    assert revoked.revoked_at is not None
    assert audit.revoke_share(lic.holder, share.pk).revoked_at == revoked.revoked_at  # idempotent
    assert audit.check_share(code, requester_label="X", purpose="") is None
    assert audit.shares_of(lic.holder)[0].state == "revoked"


def test_a_holder_cannot_revoke_or_see_someone_elses_code(lic) -> None:
    other = factories.licence(holder=factories.holder(birth_name="DURAND"))
    share, code = audit.create_share(other.holder, 7)
    with pytest.raises(audit.AuditError) as error:
        audit.revoke_share(lic.holder, share.pk)
    assert error.value.field == "share_id"
    assert ShareCode.objects.get(pk=share.pk).revoked_at is None
    audit.check_share(code, requester_label="X", purpose="")
    assert audit.shares_of(lic.holder) == []
    assert list(audit.share_uses(lic.holder, share.pk)) == []


def test_the_requester_must_give_a_name(lic) -> None:
    _, code = audit.create_share(lic.holder, 7)
    with pytest.raises(audit.AuditError):
        audit.check_share(code, requester_label="  ", purpose="")


def test_the_state_read_through_a_code_follows_a_suspension_and_its_end(lic) -> None:
    """The state comes from the projection when it holds today, else from the engine: a suspension reads
    "suspended" while it runs, and "valid" once it has ended even before the daily run updates the projection."""
    with time_machine.travel(dt.datetime(2025, 5, 15, 10, tzinfo=dt.UTC)):
        services.record_event(
            lic,
            "suspension",
            {"from": "2025-05-01", "to": "2025-05-31"},
            source="agent",
            recorded_by="a",
            on=dt.date(2025, 5, 15),
        )
        _, code = audit.create_share(lic.holder, 30)
        during = audit.check_share(code, requester_label="Loueur")
        assert (during.status, during.valid, str(during.status_label)) == ("suspended", False, "Suspendu")
    projection = Projection.objects.get(licence=lic)
    assert projection.suspended and projection.next_change_on <= dt.date(2025, 6, 2)  # stale by then
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, tzinfo=dt.UTC)):
        after = audit.check_share(code, requester_label="Loueur")
    assert (after.status, after.valid, after.checked_on) == ("valid", True, dt.date(2025, 6, 2))
    assert audit.verify_chain() == []
