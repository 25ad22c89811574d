"""The service layer: the only writer of the national file (ARCHITECTURE.md, rule 5).

One module per area, all following the same path: lock the licence, append the event to its hash-chained
history, ask the rules engine, write the movements, letters and projection, in one transaction.
"""

from __future__ import annotations

from .core import (
    MOVEMENT_FIELDS,
    Derived,
    Outcome,
    RegistryError,
    UnknownLicence,
    apply_evaluation,
    derive,
    engine_document,
    event_hash,
    find_offence_event,
    genesis_hash,
    history_of,
    record_event,
    refresh,
    register_licence,
    today,
)

__all__ = [
    "MOVEMENT_FIELDS",
    "Derived",
    "Outcome",
    "RegistryError",
    "UnknownLicence",
    "apply_evaluation",
    "derive",
    "engine_document",
    "event_hash",
    "find_offence_event",
    "genesis_hash",
    "history_of",
    "record_event",
    "refresh",
    "register_licence",
    "today",
]
