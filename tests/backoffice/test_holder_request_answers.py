"""The holder is told by e-mail that their correction request was decided (``holder_requests.notify_decision``):
accepted (the correction event written) or refused with the agent's reason, once the decision is committed, at
the address of the account that asked (or the file's), in French, with the link to the request in their space and
nothing of the file they do not already know. A mail that cannot be sent leaves the decision as it is."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction
from django.test import Client

from permis.accounts.models import HolderLink
from permis.backoffice import holder_requests, services
from permis.backoffice.models import CorrectionRequest, HolderCorrectionRequest
from permis.registry.models import Event, Holder
from tests.notices.conftest import smtp_server  # noqa: F401  (the fixture, shared)

from . import test_holder_requests as base
from .helpers import agent, client_for

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://permis.example.org"
REASON = "Le fichier national indique bien l'arrêté du 1er mars 2010 : « permis délivré » (pièce jointe)."


@pytest.fixture(autouse=True)
def _public_url(settings) -> None:
    settings.PUBLIC_URL = PUBLIC_URL


def accept(row: HolderCorrectionRequest) -> None:
    """Two agents correct the event the holder pointed at (two points, not four): the request is accepted."""
    first, second = agent(login="first"), agent(login="second")
    replacement = {"kind": "offence", "data": {**row.target.data, "points": 2}}
    correction = services.request_correction(
        first.agent_profile, row.target, replacement, "avis de contravention vu", holder_request=row
    )
    services.review_correction(second.agent_profile, correction, approve=True)


def refuse_in_the_back_office(row: HolderCorrectionRequest) -> int:
    return client_for(agent()).post(base.url(row), {"answer": REASON}).status_code


def ask(lic, username: str) -> HolderCorrectionRequest:
    """``base.asked`` for another account (one per test file)."""
    client, _user = base.holder_client(lic, username)
    sent = client.post("/mon-espace/corrections/", {"concerned": "e1", "message": "Deux points, pas quatre."})
    assert sent.status_code == 302
    return HolderCorrectionRequest.objects.get(licence=lic)


def holder_page(row: HolderCorrectionRequest, path: str) -> str:
    client = Client()
    client.force_login(row.requested_by, backend="django.contrib.auth.backends.ModelBackend")
    return client.get(path).content.decode()


def page_url(row: HolderCorrectionRequest) -> str:
    return f"{PUBLIC_URL}/mon-espace/corrections/{row.pk}/"


def test_an_accepted_request_is_mailed_to_the_account_once_committed(
    mailoutbox, django_capture_on_commit_callbacks
) -> None:
    row = base.asked(base.offence_file())
    with django_capture_on_commit_callbacks(execute=True):
        accept(row)
        assert mailoutbox == []  # nothing before the commit
    row.refresh_from_db()
    assert row.status == "accepted" and Event.objects.filter(kind="correction").exists()
    [mail] = mailoutbox
    assert mail.to == ["camille@example.fr"]  # the account that asked, linked to the file
    assert mail.subject == f"Réponse à votre demande de correction {row.reference}"
    assert "point" not in mail.subject.lower()
    body = mail.body
    assert f"Votre demande de correction {row.reference}, envoyée le " in body
    assert " a été acceptée le " in body and "validé la correction de votre dossier" in body
    assert page_url(row) in body and f"l’adresse {PUBLIC_URL} dans votre navigateur" in body
    # nothing of the file the e-mail need not carry: the element concerned, its points, the holder's words, names
    for private in ("Infraction", "points", row.message, row.holder.birth_name, row.holder.given_names):
        assert private not in body, private
    # the page the link opens shows the decision and its date
    page = holder_page(row, f"/mon-espace/corrections/{row.pk}/")
    assert "Acceptée" in page and "Votre dossier a été corrigé le" in page


def test_a_refused_request_is_mailed_with_the_agents_reason(
    mailoutbox, django_capture_on_commit_callbacks
) -> None:
    row = base.asked(base.offence_file())
    with django_capture_on_commit_callbacks(execute=True):
        assert refuse_in_the_back_office(row) == 302
    row.refresh_from_db()
    assert row.status == "refused"
    [mail] = mailoutbox
    assert mail.to == ["camille@example.fr"] and row.reference in mail.subject
    assert " a été refusée le " in mail.body
    assert (
        f"Motif donné par la préfecture :\n{REASON}\n" in mail.body
    )  # as written: plain text, not HTML-escaped
    assert page_url(row) in mail.body and "Infraction" not in mail.body
    page = holder_page(row, "/mon-espace/corrections/")
    assert "Refusée le " in page


def test_a_correction_rejected_by_the_second_agent_is_not_an_answer(
    mailoutbox, django_capture_on_commit_callbacks
) -> None:
    row = base.asked(base.offence_file())
    first, second = agent(login="first"), agent(login="second")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.request_correction(first.agent_profile, row.target, None, "demande", holder_request=row)
        services.review_correction(
            second.agent_profile, CorrectionRequest.objects.get(), approve=False, reason="pièce illisible"
        )
    row.refresh_from_db()
    assert row.status == "pending" and callbacks == [] and mailoutbox == []


def test_an_account_no_longer_linked_is_not_told_the_file_address_is(
    mailoutbox, django_capture_on_commit_callbacks
) -> None:
    row = base.asked(base.offence_file())
    HolderLink.objects.filter(user=row.requested_by).delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert refuse_in_the_back_office(row) == 302
    assert [mail.to for mail in mailoutbox] == [["camille.martin@example.fr"]]


def test_no_mail_when_neither_the_account_nor_the_file_has_an_address(
    mailoutbox, django_capture_on_commit_callbacks, caplog
) -> None:
    row = base.asked(base.offence_file())
    row.requested_by.email = ""
    row.requested_by.save(update_fields=["email"])
    Holder.objects.filter(pk=row.holder_id).update(email="")
    with (
        caplog.at_level(logging.INFO, logger="permis.backoffice.holder_requests"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        accept(row)
    row.refresh_from_db()
    assert row.status == "accepted" and mailoutbox == []
    assert "no e-mail address for the holder" in caplog.text


def test_a_mail_that_cannot_be_sent_leaves_the_decision(
    monkeypatch, mailoutbox, django_capture_on_commit_callbacks, caplog
) -> None:
    def down(*args, **kwargs) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(holder_requests, "send_mail", down)
    row = base.asked(base.offence_file())
    with (
        caplog.at_level(logging.ERROR, logger="permis.backoffice.holder_requests"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert refuse_in_the_back_office(row) == 302  # not a 500
    row.refresh_from_db()
    assert (row.status, row.answer) == ("refused", REASON) and mailoutbox == []
    assert "could not be sent" in caplog.text and "connection refused" in caplog.text


def test_over_smtp_sent_then_refused_by_the_server(smtp_server, django_capture_on_commit_callbacks) -> None:  # noqa: F811
    """Through Django's SMTP backend to aiosmtpd on loopback: the message arrives as sent (UTF-8 French text);
    when the server refuses the recipient, the decision stays."""
    accepted = base.asked(base.offence_file())
    with django_capture_on_commit_callbacks(execute=True):
        accept(accepted)
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ("camille@example.fr",)
    assert received.subject.strip() == f"Réponse à votre demande de correction {accepted.reference}"
    assert "a été acceptée le" in received.text() and page_url(accepted) in received.text()

    smtp_server.refuse_next(1, code=550)
    refused = ask(base.offence_file(), "dominique")
    with django_capture_on_commit_callbacks(execute=True):
        assert refuse_in_the_back_office(refused) == 302
    refused.refresh_from_db()
    assert refused.status == "refused" and len(smtp_server.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_sent_after_the_commit_and_never_for_a_decision_rolled_back(mailoutbox) -> None:
    """Real commits (no test transaction around): nothing is mailed while the decision's transaction is open, nor
    when it is rolled back."""
    row = base.asked(base.offence_file())
    profile = agent().agent_profile

    def refuse_then_fail() -> None:
        with transaction.atomic():
            holder_requests.refuse(profile, row, REASON)
            raise RuntimeError("something later in the same transaction fails")

    with pytest.raises(RuntimeError):
        refuse_then_fail()
    row.refresh_from_db()
    assert row.status == "pending" and mailoutbox == []
    with transaction.atomic():
        holder_requests.refuse(profile, row, REASON)
        assert mailoutbox == []
    assert [mail.to for mail in mailoutbox] == [["camille@example.fr"]]
