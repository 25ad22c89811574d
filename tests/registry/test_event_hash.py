"""The event hash written directly (the fast path of `services.core.event_hash`) is the hash of the canonical
JSON it stands for, whatever the columns hold: the stored hashes of the whole file depend on those bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from permis.registry.services.core import canonical_payload, event_hash


def _reference(prev_hash: str, event) -> str:
    canonical = json.dumps(
        canonical_payload(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_zones = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5))])


@settings(max_examples=300, deadline=None)
@given(
    prev_hash=st.text(max_size=64),
    licence=st.integers(min_value=1, max_value=2**62),
    seq=st.integers(min_value=1, max_value=10**6),
    kind=st.text(max_size=20),
    data=st.dictionaries(st.text(max_size=12), _json, max_size=6),
    source=st.text(max_size=10),
    sender=st.text(max_size=10),
    source_ref=st.none() | st.text(max_size=20),
    recorded_at=st.datetimes(timezones=_zones),
    recorded_by=st.text(max_size=10),
    corrects=st.none() | st.integers(min_value=1, max_value=2**62),
    reason=st.text(max_size=30),
)
def test_the_direct_text_is_the_canonical_json(
    prev_hash,
    licence,
    seq,
    kind,
    data,
    source,
    sender,
    source_ref,
    recorded_at,
    recorded_by,
    corrects,
    reason,
) -> None:
    event = SimpleNamespace(
        licence_id=licence,
        seq=seq,
        kind=kind,
        data=data,
        source=source,
        sender=sender,
        source_ref=source_ref,
        recorded_at=recorded_at,
        recorded_by=recorded_by,
        corrects_id=corrects,
        reason=reason,
    )
    assert event_hash(prev_hash, event) == _reference(prev_hash, event)


def test_columns_of_other_types_take_the_general_path() -> None:
    event = SimpleNamespace(
        licence_id=True,  # json writes `true`, not `1`
        seq=2,
        kind="offence",
        data={"b": 1, "a": [1.5, None]},
        source="feed",
        sender="ANTAI",
        source_ref=12,  # not a string: written as a number
        recorded_at=dt.datetime(2024, 3, 1, 8, 30, tzinfo=dt.UTC),
        recorded_by="",
        corrects_id=None,
        reason="",
    )
    assert event_hash("x" * 64, event) == _reference("x" * 64, event)
