"""The access log: appended only by the service, chained (one chain per holder id modulo PERMIS_AUDIT_CHAINS), and
any change behind its back is found and named by its chain."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext, override_settings

from permis.audit import services as audit
from permis.audit.models import AccessLog, ChainHead
from tests.registry import factories

# Every test runs on SQLite and again on PostgreSQL, where an append is the server's function
# (permis_audit_append, migration 0004) instead of the Python path: both must write the same chain.
pytestmark = pytest.mark.django_db

TABLE = AccessLog._meta.db_table


def _entry(holder, n: int = 0, **extra) -> AccessLog:
    values = {
        "actor": f"user:{n}",
        "actor_label": f"Agent n° {n}, préfecture du Rhône",
        "role": "agent",
        "holder": holder,
        "purpose": "licence_management",
        "shown": ["identité", "catégories", "solde"],
        "channel": "back_office",
    }
    values.update(extra)
    return audit.log_access(**values)


def _sql(statement: str, params: list | None = None) -> None:
    """Raw SQL on the log's table ({t}): what a forger who owns the database would do (on PostgreSQL, first
    switching off the trigger that refuses updates and deletes; the test's transaction switches it back on)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SET CONSTRAINTS ALL IMMEDIATE"
            )  # no pending foreign-key checks before ALTER TABLE
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER accesslog_append_only")
        cursor.execute(statement.replace("{t}", TABLE), params or [])


@pytest.fixture
def logged(db):
    lic = factories.licence()
    entries = [_entry(lic.holder, n, licence=lic if n % 2 else None) for n in range(5)]
    return lic, entries


def _at(entries: list[AccessLog]) -> str:
    """How verify_chain names the entries' chain (one holder: one chain)."""
    return f"access log chain {entries[0].chain}"


def test_entries_are_numbered_and_chained_from_the_genesis(logged) -> None:
    lic, entries = logged
    assert {e.chain for e in entries} == {audit.chain_of(lic.holder_id)}
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == audit.genesis(entries[0].chain)
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    head = ChainHead.objects.get(chain=entries[0].chain)
    assert (head.seq, head.hash) == (5, entries[-1].hash)
    assert audit.verify_chain() == []


def test_chain_0_keeps_the_single_chains_genesis_and_the_others_have_their_own() -> None:
    geneses = [audit.genesis(chain) for chain in range(16)]
    assert geneses[0] == audit.GENESIS
    assert len(set(geneses)) == 16


def test_an_empty_log_verifies(db) -> None:
    assert audit.verify_chain() == []


def test_the_stored_row_hashes_as_it_was_written(logged) -> None:
    _, entries = logged
    stored = AccessLog.objects.get(seq=3)
    assert audit.row_hash(stored.prev_hash, stored) == entries[2].hash


def test_the_orm_refuses_to_update_or_delete_entries(logged) -> None:
    _, entries = logged
    with pytest.raises(PermissionError):
        AccessLog.objects.filter(seq=1).update(purpose="audit")
    with pytest.raises(PermissionError):
        AccessLog.objects.filter(seq=1).delete()
    row = AccessLog.objects.get(seq=2)
    row.purpose = "audit"
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        row.delete()
    assert audit.verify_chain() == []


@pytest.mark.postgres
def test_postgresql_itself_refuses_to_update_or_delete_entries(logged) -> None:
    from django.db import DatabaseError, transaction

    for statement in (
        "UPDATE audit_accesslog SET purpose = 'audit' WHERE seq = 1",
        "DELETE FROM audit_accesslog WHERE seq = 1",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert audit.verify_chain() == []


def test_a_row_changed_behind_the_service_is_found(logged) -> None:
    _sql("UPDATE {t} SET purpose = %s WHERE seq = 3", ["audit"])
    problems = audit.verify_chain()
    assert problems == [f"{_at(logged[1])}, entry #3: changed, its content no longer matches its hash"]


def test_a_row_whose_shown_list_is_trimmed_is_found(logged) -> None:
    _sql("UPDATE {t} SET shown = %s WHERE seq = 2", ['["identité"]'])
    assert any(p.startswith(f"{_at(logged[1])}, entry #2: changed") for p in audit.verify_chain())


def test_a_careful_forger_who_rehashes_the_row_breaks_the_next_link(logged) -> None:
    row = AccessLog.objects.get(seq=3)
    row.actor_label = "Quelqu'un d'autre"
    forged = audit.row_hash(row.prev_hash, row)
    _sql("UPDATE {t} SET actor_label = %s, hash = %s WHERE seq = 3", [row.actor_label, forged])
    problems = audit.verify_chain()
    assert len(problems) == 1
    assert problems[0].startswith(f"{_at(logged[1])}, entry #4: broken link")


def test_a_deleted_row_is_found(logged) -> None:
    _sql("DELETE FROM {t} WHERE seq = 2")
    problems = audit.verify_chain()
    assert f"{_at(logged[1])}: entries #2 to #2 are missing (deleted rows)" in problems
    assert any(p.startswith(f"{_at(logged[1])}, entry #3: broken link") for p in problems)


def test_the_last_rows_deleted_are_found_through_the_head(logged) -> None:
    _sql("DELETE FROM {t} WHERE seq >= 4")
    problems = audit.verify_chain()
    assert problems == [
        f"{_at(logged[1])}: the chain head names entry #5 but the last entry is #3 (entries deleted at the end)"
    ]


def test_a_row_inserted_at_the_end_without_the_service_is_found(logged) -> None:
    lic, entries = logged
    forged = AccessLog(
        chain=entries[-1].chain,
        seq=6,
        at=entries[-1].at + dt.timedelta(seconds=1),
        actor="user:99",
        actor_label="Faux",
        role="agent",
        holder_id=lic.holder_id,
        purpose="audit",
        shown=[],
        channel="back_office",
        prev_hash=entries[-1].hash,
    )
    forged.hash = audit.row_hash(forged.prev_hash, forged)
    forged.save(
        force_insert=True
    )  # the ORM allows inserts: only the head can tell this one was not the service's
    problems = audit.verify_chain()
    assert problems == [
        f"{_at(entries)}: entries #6 to #6 were added without the service (the chain head names entry #5)"
    ]


def test_a_row_inserted_in_the_middle_is_found(logged) -> None:
    lic, entries = logged
    # Make room by renumbering the tail (what a forger would have to do), then insert a row as #3.
    for seq in (5, 4, 3):
        _sql("UPDATE {t} SET seq = %s WHERE seq = %s", [seq + 1, seq])
    forged = AccessLog(
        chain=entries[1].chain,
        seq=3,
        at=entries[1].at,
        actor="user:99",
        actor_label="Faux",
        role="agent",
        holder_id=lic.holder_id,
        purpose="audit",
        shown=[],
        channel="back_office",
        prev_hash=entries[1].hash,
    )
    forged.hash = audit.row_hash(forged.prev_hash, forged)
    forged.save(force_insert=True)
    problems = audit.verify_chain()
    assert any(p.startswith(f"{_at(entries)}, entry #4: broken link") for p in problems)
    assert any(p.startswith(f"{_at(entries)}, entry #4: changed") for p in problems)


def test_reordered_rows_are_found(logged) -> None:
    # Swap entries 2 and 3 by renumbering them.
    _sql("UPDATE {t} SET seq = 1000 WHERE seq = 2")
    _sql("UPDATE {t} SET seq = 2 WHERE seq = 3")
    _sql("UPDATE {t} SET seq = 3 WHERE seq = 1000")
    problems = audit.verify_chain()
    assert any(p.startswith(f"{_at(logged[1])}, entry #2: broken link") for p in problems)
    assert any("reordered" in p for p in problems)


@pytest.fixture
def chains(db):
    """Three holders on three of 4 chains (consecutive holder ids), each with 3 entries, interleaved in time."""
    with override_settings(AUDIT_CHAINS=4):
        holders = [factories.licence(holder=factories.holder(birth_name=name)).holder for name in "ABC"]
        entries: dict[int, list[AccessLog]] = {}
        for n in range(3):
            for holder in holders:
                entry = _entry(holder, n)
                entries.setdefault(entry.chain, []).append(entry)
        yield entries


def test_each_holder_has_its_chain_numbered_and_headed_on_its_own(chains) -> None:
    assert len(chains) == 3
    for chain, entries in chains.items():
        assert {e.holder_id % 4 for e in entries} == {chain}
        assert [e.seq for e in entries] == [1, 2, 3]
        assert entries[0].prev_hash == audit.genesis(chain)
        for before, after in itertools.pairwise(entries):
            assert after.prev_hash == before.hash
        head = ChainHead.objects.get(chain=chain)
        assert (head.seq, head.hash) == (3, entries[-1].hash)
    assert AccessLog.objects.filter(seq=1).count() == 3  # seq is unique within a chain, not across chains
    assert audit.verify_chain() == []


def test_the_last_row_of_one_chain_deleted_is_found_and_named(chains) -> None:
    chain = sorted(chains)[1]
    _sql("DELETE FROM {t} WHERE chain = %s AND seq = 3", [chain])
    assert audit.verify_chain() == [
        f"access log chain {chain}: the chain head names entry #3 but the last entry is #2 "
        "(entries deleted at the end)"
    ]


def test_changes_in_several_chains_are_each_named_by_their_chain(chains) -> None:
    first, second, third = sorted(chains)
    _sql("UPDATE {t} SET purpose = %s WHERE chain = %s AND seq = 2", ["audit", first])
    _sql("DELETE FROM {t} WHERE chain = %s AND seq = 1", [third])
    assert audit.verify_chain() == [
        f"access log chain {first}, entry #2: changed, its content no longer matches its hash",
        f"access log chain {third}: entries #1 to #1 are missing (deleted rows)",
        f"access log chain {third}, entry #2: broken link, its previous hash is not the hash of the chain's "
        "genesis (a row inserted, deleted or moved)",
    ]
    assert chains[second][0].chain == second


def test_a_row_moved_to_another_chain_is_found_in_both(chains) -> None:
    source, target = sorted(chains)[:2]
    _sql("UPDATE {t} SET chain = %s, seq = 4 WHERE chain = %s AND seq = 3", [target, source])
    problems = audit.verify_chain()
    assert problems[0] == (
        f"access log chain {source}: the chain head names entry #3 but the last entry is #2 "
        "(entries deleted at the end)"
    )
    assert (
        f"access log chain {target}, entry #4: broken link, its previous hash is not the hash of entry #3 "
        "(a row inserted, deleted or moved)"
    ) in problems
    assert (
        f"access log chain {target}: entries #4 to #4 were added without the service "
        "(the chain head names entry #3)"
    ) in problems


def test_a_chain_without_a_head_is_found(chains) -> None:
    chain = sorted(chains)[0]
    ChainHead.objects.filter(chain=chain).delete()
    assert audit.verify_chain() == [
        f"access log chain {chain}: entries #1 to #3 were added without the service (the chain has no head)"
    ]


def test_changing_the_number_of_chains_keeps_the_log_verifiable(chains) -> None:
    holder_id = chains[sorted(chains)[0]][0].holder_id
    with override_settings(AUDIT_CHAINS=16):
        entry = _entry(holder_id, 9)
    assert (entry.chain, entry.seq) == (holder_id % 16, ChainHead.objects.get(chain=holder_id % 16).seq)
    assert audit.verify_chain() == []


def test_an_append_is_three_statements_once_the_chain_has_its_head(logged) -> None:
    lic, _ = logged
    with CaptureQueriesContext(connection) as queries:
        _entry(lic.holder_id, 7)
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        # one statement: the server's function locks the head, inserts and moves the head (migration 0004)
        assert len(statements) == 1 and "permis_audit_append" in queries.captured_queries[0]["sql"]
        return
    # SELECT … FOR UPDATE of the head, INSERT, UPDATE of the head (inside the test's transaction, the append's
    # BEGIN and COMMIT show as a SAVEPOINT and its RELEASE).
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["SELECT", "INSERT", "UPDATE"]
    assert "FOR UPDATE" in queries.captured_queries[1]["sql"] or connection.vendor != "postgresql"


def test_the_service_refuses_incomplete_entries(db) -> None:
    lic = factories.licence()
    with pytest.raises(audit.AuditError, match="role"):
        _entry(lic.holder, role="neighbour")
    with pytest.raises(audit.AuditError, match="purpose_detail"):
        _entry(lic.holder, purpose="other")
    with pytest.raises(audit.AuditError, match="channel"):
        _entry(lic.holder, channel="carrier pigeon")
    with pytest.raises(audit.AuditError, match="shown"):
        _entry(lic.holder, shown="solde")
    assert _entry(lic.holder, purpose="other", purpose_detail="Demande du procureur").seq == 1


def test_the_holder_sees_their_own_entries_newest_first(db) -> None:
    mine = factories.licence()
    other = factories.licence(holder=factories.holder(birth_name="DURAND"))
    _entry(mine.holder, 1)
    _entry(other.holder, 2)
    _entry(mine.holder, 3)
    assert [e.actor for e in audit.accesses_of(mine.holder)] == ["user:3", "user:1"]


def _verify_command() -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify", "--quiet", "--jobs", "1", stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code)
    return code, out.getvalue().splitlines() + err.getvalue().splitlines()


def test_permis_verify_checks_the_access_log(logged) -> None:
    code, lines = _verify_command()
    assert code == 0, lines
    assert "5 access log entries" in lines[-1]
    assert lines[-1].endswith("no discrepancy")
    _sql("UPDATE {t} SET role = %s WHERE seq = 1", ["police"])
    code, lines = _verify_command()
    assert code == 1
    assert f"{_at(logged[1])}, entry #1: changed, its content no longer matches its hash" in lines
    assert lines[-1].endswith("1 discrepancy")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_valid_chain() -> None:
    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (the lock on the chain head is PostgreSQL's)")
    lic = factories.licence()
    threads, per_thread = 6, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                _entry(lic.holder_id, n * 100 + i)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    assert AccessLog.objects.count() == threads * per_thread
    assert list(AccessLog.objects.values_list("seq", flat=True)) == list(range(1, threads * per_thread + 1))
    assert audit.verify_chain() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_on_several_chains_keep_every_chain_valid() -> None:
    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (the locks on the chain heads are PostgreSQL's)")
    threads, per_thread = 6, 15
    holders = [
        factories.licence(holder=factories.holder(birth_name=f"H{n}")).holder_id for n in range(threads)
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                # each thread reads two holders' files: its own and its neighbour's, so chains are shared
                _entry(holders[(n + i % 2) % threads], n * 100 + i)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    assert AccessLog.objects.count() == threads * per_thread
    for chain in {audit.chain_of(h) for h in holders}:
        seqs = list(AccessLog.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
    assert audit.verify_chain() == []


@pytest.mark.postgres
def test_the_servers_append_hashes_every_field_as_python_does(db) -> None:
    """permis_audit_append hashes the bytes row_hash recomputes: quotes, backslashes, newlines, accents, emoji,
    an empty list, a licence or none, on a new chain (its head made by the first append) and after."""
    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (the function is PostgreSQL's)")
    lic = factories.licence()
    awkward = [
        {"purpose_detail": 'PV n° 12 "urgent"\n\\ fin', "shown": []},
        {"actor_label": "Gendarmerie d’Évry 🚓 <b>&</b>", "shown": ["solde de points", "a\tb"]},
        {"licence": lic, "request_id": "x" * 80, "purpose_detail": "é" * 400},
        {"licence": lic.pk, "actor": "key:" + "k" * 100},
    ]
    written = [_entry(lic.holder_id, n, **extra) for n, extra in enumerate(awkward)]
    assert [e.seq for e in written] == [1, 2, 3, 4]
    assert written[0].prev_hash == audit.genesis(written[0].chain)
    for entry in written:
        stored = AccessLog.objects.get(pk=entry.pk)
        assert audit.row_hash(stored.prev_hash, stored) == stored.hash == entry.hash
        assert [getattr(stored, name) for name in audit.HASHED] == [
            getattr(entry, name) for name in audit.HASHED
        ]
    assert AccessLog.objects.get(pk=written[2].pk).purpose_detail == "é" * 300
    assert audit.verify_chain() == []


@pytest.mark.postgres
def test_the_servers_append_never_dates_an_entry_before_the_previous_one(logged) -> None:
    """The clock is read after the head's lock; an entry dated in the future (another server's clock ahead)
    does not make the next one go back in time."""
    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (the function is PostgreSQL's)")
    lic, entries = logged
    ahead = entries[-1].at + dt.timedelta(hours=1)
    _sql("UPDATE {t} SET at = %s WHERE id = %s", [ahead, entries[-1].pk])
    following = _entry(lic.holder_id, 9)
    assert following.at == ahead
