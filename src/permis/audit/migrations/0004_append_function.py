"""On PostgreSQL, an append to the access log is one statement: the function ``permis_audit_append``.

What ``permis.audit.services.log_access`` did in five round trips (BEGIN, the chain head ``SELECT … FOR UPDATE``,
the INSERT, the head's UPDATE, COMMIT) the function does inside the server, in the caller's transaction (its own
when the caller has none): it locks the chain's head (making it on the chain's first append), dates the entry
after the lock (never before the chain's previous entry, whatever the clocks), numbers it, hashes it exactly as
``permis.audit.services.row_hash`` does, inserts it and moves the head. The caller sends the canonical JSON of
the entry's fields after ``seq`` and ``at`` (``p_tail``, built by the same encoder as the hash's), so the bytes
hashed are the ones ``verify_chain`` recomputes in Python: ``prev_hash``, a newline, then
``[seq,"at",…tail``. The append-only trigger of 0002 is untouched: the function only inserts log rows.

Why: each round trip costs the partner checks about as much CPU as the work itself (docs/performance.md,
"Partner checks"), and the head's lock is now held for the statement and the commit only. SQLite (development
and tests) keeps the Python path, which a test compares with this one on PostgreSQL.
"""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION permis_audit_append(
    p_chain integer, p_genesis text, p_actor text, p_actor_label text, p_role text, p_holder bigint,
    p_licence bigint, p_purpose text, p_purpose_detail text, p_shown jsonb, p_channel text, p_request_id text,
    p_tail text,
    OUT r_id bigint, OUT r_seq bigint, OUT r_at timestamptz, OUT r_prev text, OUT r_hash text
) AS $$
DECLARE
    v_head bigint;
    v_last timestamptz;
BEGIN
    SELECT h.id, h.seq, h.hash INTO v_head, r_seq, r_prev
        FROM audit_chainhead h WHERE h.chain = p_chain FOR UPDATE;
    IF NOT FOUND THEN
        -- The chain's first append: its head has the id chain + 1, as the Python path makes it.
        INSERT INTO audit_chainhead (id, chain, seq, hash) VALUES (p_chain + 1, p_chain, 0, p_genesis)
            ON CONFLICT DO NOTHING;
        SELECT h.id, h.seq, h.hash INTO v_head, r_seq, r_prev
            FROM audit_chainhead h WHERE h.chain = p_chain FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'access log chain %: its head cannot be made (id % is taken)', p_chain, p_chain + 1;
        END IF;
    END IF;
    r_at := clock_timestamp();
    IF r_seq > 0 THEN
        SELECT a.at INTO v_last FROM audit_accesslog a WHERE a.chain = p_chain AND a.seq = r_seq;
        IF v_last IS NOT NULL AND v_last > r_at THEN
            r_at := v_last;
        END IF;
    END IF;
    r_seq := r_seq + 1;
    r_hash := encode(sha256(convert_to(
        r_prev || E'\n[' || r_seq::text || ',"'
            || to_char(r_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '",' || p_tail,
        'UTF8')), 'hex');
    INSERT INTO audit_accesslog (chain, seq, at, actor, actor_label, role, holder_id, licence_id, purpose,
                                 purpose_detail, shown, channel, request_id, prev_hash, hash)
        VALUES (p_chain, r_seq, r_at, p_actor, p_actor_label, p_role, p_holder, p_licence, p_purpose,
                p_purpose_detail, p_shown, p_channel, p_request_id, r_prev, r_hash)
        RETURNING id INTO r_id;
    UPDATE audit_chainhead SET seq = r_seq, hash = r_hash WHERE id = v_head;
END;
$$ LANGUAGE plpgsql;
"""
DROP = "DROP FUNCTION IF EXISTS permis_audit_append(integer, text, text, text, text, bigint, bigint, text, text, jsonb, text, text, text);"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_chains")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
