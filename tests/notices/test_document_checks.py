"""Checking a document against the file: an RII whose balance or lines changed no longer "matches the present
situation", a letter is said to be on file (not to describe the present), and every check that consulted the file
is in the holder's access log, from the public page as from the API."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from permis.audit.models import AccessLog
from permis.notices import signing
from permis.notices.documents import render_attestation, render_letter, render_rii
from permis.notices.signing import Outcome
from permis.registry.models import Projection
from tests.registry.factories import offence

from .document_helpers import licence_with, notice_for, record

pytestmark = pytest.mark.django_db

DAY = dt.datetime(2024, 5, 2, 10, tzinfo=dt.UTC)


@time_machine.travel(DAY)
def test_an_rii_whose_balance_changed_since_it_was_issued_no_longer_matches() -> None:
    lic = licence_with("48")
    text = signing.pdf_qr_text(render_rii(lic, dt.date(2024, 5, 2)))
    verdict = signing.verify(text)
    assert verdict.outcome is Outcome.VALID and "situation actuelle" in str(verdict.message)
    record(lic, "offence", offence("2024-04-10", "2024-04-25", 2, "C4"), "2024-05-02")
    assert Projection.objects.get(licence=lic).balance == 7  # 12 - 3 - 2; the status is still "valid"
    verdict = signing.verify(text)
    assert verdict.outcome is Outcome.REVOKED, verdict.message
    message = str(verdict.message)
    assert "La signature est valide" in message and "2 mai 2024" in message
    assert "ne correspond plus à la situation actuelle" in message
    assert "solde de points" in message and "7" not in message  # the present balance is not disclosed


@time_machine.travel(DAY)
def test_an_rii_of_a_past_day_is_compared_with_the_file_of_today() -> None:
    lic = licence_with("48")
    record(lic, "offence", offence("2024-04-10", "2024-04-25", 2, "C4"), "2024-04-26")
    text = signing.pdf_qr_text(render_rii(lic, dt.date(2024, 4, 20)))
    assert signing.verify(text).outcome is Outcome.REVOKED
    assert signing.verify(text, on=dt.date(2024, 4, 20)).outcome is Outcome.VALID


def test_a_letter_on_file_is_genuine_but_not_said_to_describe_the_present() -> None:
    notice = notice_for("48")
    verdict = signing.verify(signing.pdf_qr_text(render_letter(notice)))
    assert verdict.outcome is Outcome.VALID
    assert "figure bien au dossier" in str(verdict.message)
    assert "correspond à la situation actuelle" not in str(verdict.message)


@time_machine.travel(DAY)
def test_the_public_page_logs_a_check_that_consulted_the_file(client: Client) -> None:
    lic = licence_with("48")
    attestation = signing.pdf_qr_text(render_attestation(lic, dt.date(2024, 5, 2)))
    response = client.post("/verifier/", {"qr_text": attestation}, HTTP_X_REQUEST_ID="req-1")
    assert 'data-outcome="valid"' in response.content.decode()
    entry = AccessLog.objects.get()
    assert (entry.holder_id, entry.licence_id) == (lic.holder_id, lic.pk)
    assert (entry.role, entry.channel, entry.purpose) == ("third_party", "verifier", "document_check")
    assert entry.purpose_detail == (
        "une attestation des droits à conduire émise le 2 mai 2024 ; résultat : conforme au dossier actuel"
    )
    assert entry.shown == ["concordance du document avec le dossier actuel"]
    assert entry.request_id == "req-1"
    # The holder reads it on their page of consultations, in words.
    assert entry.get_purpose_display().startswith("Vérification d")
    assert entry.get_channel_display() == "Page publique de vérification des documents"


@time_machine.travel(DAY)
def test_a_check_that_read_nothing_of_the_file_is_not_logged(client: Client) -> None:
    lic = licence_with("48")
    text = signing.pdf_qr_text(render_attestation(lic, dt.date(2023, 12, 1)))  # expired on 2024-04-01
    assert 'data-outcome="expired"' in client.post("/verifier/", {"qr_text": text}).content.decode()
    head, key, payload, signature = text.split(".")
    forged = f"{head}.{key}.{payload[:-1]}{'B' if payload[-1] != 'B' else 'C'}.{signature}"
    assert 'data-outcome="tampered"' in client.post("/verifier/", {"qr_text": forged}).content.decode()
    assert client.post("/verifier/", {"qr_text": "nonsense"}).status_code == 400
    assert not AccessLog.objects.exists()


@time_machine.travel(DAY)
def test_the_command_logs_a_check_that_consulted_the_file_and_not_an_offline_one() -> None:
    lic = licence_with("48")
    text = signing.pdf_qr_text(render_rii(lic, dt.date(2024, 5, 2)))
    call_command("verify-document", text, "--offline", stdout=io.StringIO())
    assert not AccessLog.objects.exists()
    call_command("verify-document", text, stdout=io.StringIO())
    entry = AccessLog.objects.get()
    assert (entry.role, entry.channel, entry.purpose) == ("system", "command", "document_check")
    assert entry.actor.startswith("cli:") and "permis verify-document" in entry.actor_label
    assert entry.purpose_detail.startswith("un relevé d'information intégral émis le 2 mai 2024")


# -- the letter's date -------------------------------------------------------------------------------------------
@time_machine.travel(dt.datetime(2024, 6, 15, 10, tzinfo=dt.UTC))
def test_a_letter_is_dated_the_day_it_is_issued_and_keeps_its_legal_dates_in_its_own_lines() -> None:
    from .test_documents import text_of

    notice = notice_for("48")  # a withdrawal of 20 March 2024, recorded (and its letter made) on 15 June 2024
    assert notice.due_on == dt.date(2024, 3, 20)
    pdf = render_letter(notice)
    text = text_of(pdf)
    assert "Date 15 juin 2024 Référence" in text
    assert "Date de l’infraction 1er mars 2024" in text
    assert "20 mars 2024" in text.split("Date de valeur")[1][:120]
    assert "Enregistrée au fichier national le 15 juin 2024" in text
    assert "Points retirés : 3, le 20 mars 2024" in text
    assert "Solde au 20 mars 2024, date de ce retrait de points" in text  # the balance may have changed since
    payload = signing.verify_pdf(pdf).payload
    assert (payload["issued"], payload["due"]) == ("2024-06-15", "2024-03-20")
    facts = dict(signing.verify_pdf(pdf).facts)
    assert facts["Émis le"] == "15 juin 2024" and facts["Date du retrait de points"] == "20 mars 2024"
    with time_machine.travel(dt.datetime(2024, 7, 1, 10, tzinfo=dt.UTC)):
        assert "Date 15 juin 2024" in text_of(render_letter(notice))


@time_machine.travel(dt.datetime(2024, 3, 20, 10, tzinfo=dt.UTC))
def test_a_letter_issued_on_its_legal_day_says_no_more() -> None:
    from permis.registry.models import Notice
    from tests.registry.factories import licence

    from .document_helpers import addressed_holder
    from .test_documents import text_of

    lic = licence(obtained_on=dt.date(2010, 3, 1), on=dt.date(2024, 1, 1), holder=addressed_holder())
    record(lic, "offence", offence("2024-03-01", "2024-03-20", 3), "2024-03-20")
    text = text_of(render_letter(Notice.objects.get(licence=lic, code="48")))
    assert "Date 20 mars 2024" in text and "Points retirés : 3, le 20 mars 2024" in text
    assert "Solde au" not in text


# -- the attestation for third parties (L225-5: existence, categories, validity; never points, L223-7) -------------
def test_the_attestation_carries_no_home_address() -> None:
    from .test_documents import text_of

    lic = licence_with("48")
    text = text_of(render_attestation(lic, dt.date(2024, 4, 1)))
    assert "DUPONT" in text and lic.number in text
    for private in ("12 rue des Lilas", "Appartement 3", "69003", "LYON", "Madame Camille"):
        assert private not in text, private
    # The letters and the RII, sent to the holder, keep the address.
    assert "12 rue des Lilas" in text_of(render_rii(lic, dt.date(2024, 4, 1)))


def test_an_invalidated_licence_is_invalid_for_a_third_party_without_a_word_on_points(client: Client) -> None:
    from permis.notices.documents.facts import PUBLIC_STATUS_LABELS, licence_state
    from permis.notices.receipts import record_postal_receipt
    from tests.notices.legal_helpers import delivery, paris, zero_balance_licence

    from .test_documents import text_of

    lic, letter = zero_balance_licence()
    with time_machine.travel(dt.datetime(2024, 4, 10, 10, tzinfo=dt.UTC)):
        record_postal_receipt(
            delivery(letter, "registered", sent_at=paris(2024, 4, 3, 9)),
            kind="received",
            on=dt.date(2024, 4, 5),
            source="agent:test",
        )
        assert licence_state(lic, dt.date(2024, 4, 10)).public_status == "invalidated"
        pdf = render_attestation(lic, dt.date(2024, 4, 10))
        text = text_of(pdf)
        assert "Invalidé" in text
        assert "solde" not in text.lower().replace("ne mentionne pas le nombre de points", "")
        body = client.post("/verifier/", {"qr_text": signing.pdf_qr_text(pdf)}).content.decode()
        assert "Invalidé" in body and "solde de points nul" not in body
        # The holder's own record keeps the reason.
        assert "solde de points nul" in text_of(render_rii(lic, dt.date(2024, 4, 10)))
    assert str(PUBLIC_STATUS_LABELS["invalidated"]) == "Invalidé"
