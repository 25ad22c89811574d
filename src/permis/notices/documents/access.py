"""The reads of a holder's file made through the documents, in the access log (``permis.audit``; PRODUCT.md: "every
read of a file logged", "the holder sees every consultation").

- ``log_printed``: a document printed by ``permis document`` (an RII, a letter, an attestation), as the back office
  logs the RII it prints: who ran the command and why;
- ``log_check``: a check that consulted the file (the public page ``/verifier/``, ``permis verify-document``), as
  the API's attestation check logs it (``permis.api.checks``). Only a check that read the licence's present state
  is logged: a forged, expired or unreadable document reads nothing of the file.

Both are called before the result is shown (or the file written), so that an entry that cannot be written stops
the read; the texts are stored as written here and shown to the holder on their page of consultations.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation

from permis.audit.models import Channel, Purpose, Role
from permis.audit.services import log_access
from permis.registry.models import Licence

from .facts import day

# What each document shows of the file (the back office's RII and letter say the same).
PRINTED = {
    "rii": "relevé d'information intégral (RII) imprimé",
    "letter": "lettre envoyée (PDF)",
    "attestation": "attestation des droits à conduire imprimée",
}
# A document's name in the log's "why" (never the letter's code: it is the holder's own business).
CHECKED = {
    "rii": ("un relevé d'information intégral", "émis"),
    "letter": ("une lettre", "émise"),
    "attestation": ("une attestation des droits à conduire", "émise"),
    "digital_licence": ("le code QR du permis numérique", "émis"),
}
# What a check shows of the present file: whether the document still matches it (and, when it does not, why).
CHECK_SHOWN = "concordance du document avec le dossier actuel"
PUBLIC_ACTOR = "public:verifier"
PUBLIC_LABEL = "Personne non identifiée ayant vérifié un document sur la page publique de vérification"


def log_printed(
    kind: str, licence: Licence, *, by: str, purpose: str = "", detail: str = "", request_id: str = ""
) -> None:
    """A document printed at the command line by the operator `by`. Without a purpose, the command itself is
    the reason given (purpose "other", its detail naming the command)."""
    command = f"document édité par la commande « permis document {kind} »"
    if not purpose:
        purpose, detail = Purpose.OTHER, f"{command} ; {detail.strip()}" if detail.strip() else command
    log_access(
        actor=f"cli:{by}",
        actor_label=f"Opérateur du service des permis de conduire ({by}), {command}",
        role=Role.SYSTEM,
        holder=licence.holder_id,
        licence=licence.pk,
        purpose=purpose,
        purpose_detail=detail.strip(),
        shown=[PRINTED[kind]],
        channel=Channel.COMMAND,
        request_id=request_id,
    )


def log_check(
    verdict: Any,
    *,
    channel: str,
    actor: str = PUBLIC_ACTOR,
    actor_label: str = PUBLIC_LABEL,
    role: str = Role.THIRD_PARTY,
    request_id: str = "",
) -> bool:
    """The check of a document that consulted the file (``verdict.registry_checked``), written to the log of the
    licence it names; answers whether an entry was written (none when the licence is no longer in the file)."""
    payload = verdict.payload or {}
    if not verdict.registry_checked or not payload:
        return False
    licence = Licence.objects.filter(number=str(payload.get("licence", ""))).only("pk", "holder_id").first()
    if licence is None:
        return False
    kind = "digital_licence" if payload.get("use") == "digital_licence" else str(payload.get("doc", ""))
    document, participle = CHECKED.get(kind, ("un document", "émis"))
    with translation.override("fr"):
        issued = _day(payload.get("issued"))
    if issued:
        document = f"{document} {participle} le {issued}"
    result = "conforme au dossier actuel" if verdict.valid else "ne correspond plus au dossier actuel"
    log_access(
        actor=actor,
        actor_label=actor_label,
        role=role,
        holder=licence.holder_id,
        licence=licence.pk,
        purpose=Purpose.DOCUMENT_CHECK,
        purpose_detail=f"{document} ; résultat : {result}",
        shown=[CHECK_SHOWN],
        channel=channel,
        request_id=request_id,
    )
    return True


def _day(value: Any) -> str:
    try:
        return day(value)
    except (TypeError, ValueError):
        return ""
