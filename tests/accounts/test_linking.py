"""Who may link which file (review findings H1 and H2, docs/accounts.md "Linking a licence by its numbers"):

- the numbers printed on the card are not enough: a FranceConnect account links a file only when its certified
  identity is the holder's, a local account only when its verified address is the file's;
- a refusal never tells whether the numbers are a licence's: right numbers refused read exactly as wrong numbers
  (same status, same page, same message, same queries; issue 5's audit, G9);
- only holders' accounts (an ``Account`` row) reach the linking page and the holder's space: an agent's user
  gets a 403, even with a ``HolderLink``;
- every link is written to the holder's access log and mailed to the holder; the confirmation is shown on the
  page the person lands on;
- two requests of one account that link at the same time (a double click) make one link, one entry, one email,
  and both answer as a link does (no 500).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from permis.accounts import linking
from permis.accounts.fcdev import FcDevServer
from permis.accounts.identities import NOBODY, same_person
from permis.accounts.models import Account, HolderLink, LinkMethod
from permis.audit.services import accesses_of
from permis.backoffice.roles import assign_role
from permis.registry.models import Holder
from tests.registry import factories

from .conftest import identity_for
from .test_franceconnect import sign_in_with_franceconnect

pytestmark = pytest.mark.django_db

EMAIL = "camille@example.fr"
NEUTRAL = "Ces informations ne permettent pas de rattacher un permis à votre compte."
# What the one message tells each kind of account to check, besides the numbers (never whether they exist).
IDENTITY_REFUSED = "Le permis doit aussi être celui de l’identité certifiée par FranceConnect"
ADDRESS_REFUSED = "Votre compte doit aussi utiliser l’adresse électronique enregistrée par la préfecture"
TELLS_A_LICENCE = ("bien ceux d’un permis", "figure dans le dossier du permis", "Ce permis ne peut pas")
LINKED = "Votre permis est rattaché à votre compte."
NOT_FOR_AGENTS = "Espace réservé aux titulaires de permis"


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()  # the dashboard is kept whole under ids, which repeat from test to test


def card_of(licence: Any, **changes: str) -> dict[str, str]:
    return {
        "format": licence.format,
        "number": licence.number,
        "dossier_number": licence.dossier_number,
        "birth_date": licence.holder.birth_date.isoformat(),
        **changes,
    }


def post_card(client: Client, licence: Any, **changes: str) -> Any:
    return client.post(reverse("accounts:link"), card_of(licence, **changes))


def local_account(email: str = EMAIL, verified: bool = True) -> User:
    user = User.objects.create_user(username=email, email=email, password="une phrase de passe solide")
    Account.objects.create(user=user, email_verified_at=timezone.now() if verified else None)
    return user


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def agent(username: str = "agent.paris") -> User:
    user = User.objects.create_user(username, password="demo-gestion-2026")
    assign_role(user, "agent", ["75", "92"], service="Préfecture de police")
    return user


# -- H1: a FranceConnect account ---------------------------------------------------------------------------------
def test_a_franceconnect_identity_that_is_not_the_holder_s_links_nothing(
    client: Client, fc: FcDevServer, identities, camille
) -> None:
    """The review's reproduction: Aurore PERSONNE, certified, types Camille MARTIN's card."""
    identities[:] = [NOBODY]
    sign_in_with_franceconnect(client, fc, 0)
    answer = post_card(client, camille)
    assert answer.status_code == 400
    page = answer.content.decode()
    assert NEUTRAL in page and IDENTITY_REFUSED in page and "contactez votre préfecture ou l’ANTS" in page
    assert not any(tell in page for tell in TELLS_A_LICENCE)
    assert not HolderLink.objects.exists() and not accesses_of(camille.holder).exists()
    assert client.get(reverse("dossier:dashboard"))["Location"] == reverse("accounts:link")


def test_a_franceconnect_identity_links_the_file_its_numbers_designate_among_homonyms(
    client: Client, fc: FcDevServer, identities, mailoutbox
) -> None:
    twin = {
        "birth_name": "HOMONYME",
        "given_names": "Dominique",
        "birth_date": dt.date(1975, 6, 15),
        "sex": "male",
        "birth_place": "69123",
    }
    first = factories.licence(holder=factories.holder(**twin, email="d1@example.fr"))
    second = factories.licence(holder=factories.holder(**twin, email="d2@example.fr"))
    identities[:] = [identity_for(first.holder)]
    sign_in_with_franceconnect(client, fc, 0)
    assert not HolderLink.objects.exists()  # two holders: the numbers must say which
    answer = post_card(client, second)
    assert answer.status_code == 302 and answer["Location"] == reverse("accounts:home")
    link = HolderLink.objects.get()
    assert link.holder == second.holder and link.method == "licence_form"
    entry = accesses_of(second.holder).get()
    assert entry.role == "account_link" and entry.channel == "portal" and entry.purpose == "holder_request"
    assert entry.actor == f"user:{link.user_id}" and entry.licence_id == second.pk
    assert "FranceConnect" in entry.actor_label and "Dominique HOMONYME" in entry.actor_label
    assert [m.to for m in mailoutbox] == [["d2@example.fr"]]


def test_more_given_names_or_another_birth_place_still_certify_the_holder(
    client: Client, fc: FcDevServer, identities, camille
) -> None:
    """The automatic link compares the whole pivot; the form needs birth name, first given name, birth date."""
    identities[:] = [
        identity_for(
            camille.holder, given_name="Camille Anne Marie", family_name="Martin", birthplace="69123"
        )
    ]
    sign_in_with_franceconnect(client, fc, 0)
    assert not HolderLink.objects.exists()  # the pivot does not match the file exactly
    assert post_card(client, camille).status_code == 302
    assert HolderLink.objects.get().holder == camille.holder


def test_another_first_name_or_birth_date_is_another_person(camille) -> None:
    claims = identity_for(camille.holder).claims()
    holder = camille.holder  # MARTIN, Camille Anne, 1979-04-12
    assert same_person(holder, claims, whole_pivot=False)
    assert same_person(
        holder, {**claims, "family_name": "martin", "given_name": "CAMILLE"}, whole_pivot=False
    )
    assert not same_person(holder, {**claims, "given_name": "Anne Camille"}, whole_pivot=False)
    assert not same_person(holder, {**claims, "given_name": "Aurore"}, whole_pivot=False)
    assert not same_person(holder, {**claims, "family_name": "MARTINEZ"}, whole_pivot=False)
    assert not same_person(holder, {**claims, "birthdate": "1979-04-13"}, whole_pivot=False)
    assert not same_person(holder, {**claims, "birthdate": ""}, whole_pivot=False)
    compound = Holder(birth_name="Lefèvre", given_names="Jean-Pierre Louis", birth_date=holder.birth_date)
    certified = {"family_name": "LEFEVRE", "given_name": "Jean Pierre Louis", "birthdate": "1979-04-12"}
    assert same_person(compound, certified, whole_pivot=False)
    assert not same_person(compound, {**certified, "given_name": "Jean"}, whole_pivot=False)


def test_a_franceconnect_account_without_its_certified_identity_must_sign_in_again(camille) -> None:
    user = User.objects.create_user("franceconnect:sub-1", first_name="Camille Anne", last_name="MARTIN")
    Account.objects.create(user=user, franceconnect_sub="sub-1", email_verified_at=timezone.now())
    client = signed_in(user)  # a session that did not come through FranceConnect's callback
    answer = post_card(client, camille)
    assert answer.status_code == 400 and "reconnectez-vous avec FranceConnect" in answer.content.decode()
    assert not HolderLink.objects.exists()


def test_the_automatic_link_is_logged_and_mailed_too(
    client: Client, fc: FcDevServer, identities, camille, mailoutbox
) -> None:
    identities[:] = [identity_for(camille.holder)]
    sign_in_with_franceconnect(client, fc, 0)
    link = HolderLink.objects.get()
    assert link.method == "franceconnect"
    entry = accesses_of(camille.holder).get()
    assert entry.role == "account_link" and entry.actor == f"user:{link.user_id}"
    assert "rattaché automatiquement" in entry.actor_label
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [camille.holder.email]
    assert "Un compte a été rattaché" in mailoutbox[0].subject
    # signing in again links nothing more
    client.logout()
    sign_in_with_franceconnect(client, fc, 0)
    assert accesses_of(camille.holder).count() == 1 and len(mailoutbox) == 1


# -- H1: a local account -----------------------------------------------------------------------------------------
def test_a_local_account_whose_address_is_not_the_file_s_links_nothing(camille) -> None:
    client = signed_in(local_account("someone.else@example.fr"))
    answer = post_card(client, camille)
    assert answer.status_code == 400
    page = answer.content.decode()
    assert NEUTRAL in page and ADDRESS_REFUSED in page and "connectez-vous avec FranceConnect" in page
    assert not any(tell in page for tell in TELLS_A_LICENCE)
    assert not HolderLink.objects.exists() and not accesses_of(camille.holder).exists()


def test_a_file_without_an_address_cannot_be_linked_by_a_local_account(camille) -> None:
    Holder.objects.filter(pk=camille.holder_id).update(email="")
    client = signed_in(local_account())
    assert ADDRESS_REFUSED in post_card(client, camille).content.decode()
    assert not HolderLink.objects.exists()


def test_an_unverified_address_links_nothing(camille) -> None:
    Holder.objects.filter(pk=camille.holder_id).update(email=EMAIL)
    client = signed_in(local_account(verified=False))
    assert ADDRESS_REFUSED in post_card(client, camille).content.decode()
    assert not HolderLink.objects.exists()


def _alert(answer: Any) -> str:
    found = re.search(r'<div class="fr-alert fr-alert--error[^>]*>(.*?)</div>', answer.content.decode(), re.S)
    return found.group(1) if found else ""


def _posted(client: Client, licence: Any, **changes: str) -> tuple[Any, int]:
    """The answer to a card, and how many statements it took (a refusal must not take another path)."""
    with CaptureQueriesContext(connection) as statements:
        answer = post_card(client, licence, **changes)
    return answer, len(statements)


def _reads_as_wrong_numbers(client: Client, licence: Any) -> str:
    """The right numbers of a file the account may not link, then wrong ones: the same answer, the same work."""
    client.get(reverse("accounts:link"))  # the session's first save after signing in, out of the comparison
    right, right_statements = _posted(client, licence)
    wrong, wrong_statements = _posted(client, licence, dossier_number="990000000999")
    unknown, unknown_statements = _posted(client, licence, number="XX0000000000")
    assert right.status_code == wrong.status_code == unknown.status_code == 400
    assert _alert(right) == _alert(wrong) == _alert(unknown) != ""
    assert right_statements == wrong_statements == unknown_statements
    assert not HolderLink.objects.exists()
    return _alert(right)


def test_a_local_account_refused_the_file_reads_exactly_as_wrong_numbers(camille) -> None:
    """The audit's reproduction (G9): intrus@example.fr types a holder's right numbers."""
    alert = _reads_as_wrong_numbers(signed_in(local_account("intrus@example.fr")), camille)
    assert NEUTRAL in alert and ADDRESS_REFUSED in alert and IDENTITY_REFUSED not in alert
    assert not any(tell in alert for tell in TELLS_A_LICENCE)


def test_a_franceconnect_identity_refused_the_file_reads_exactly_as_wrong_numbers(
    client: Client, fc: FcDevServer, identities, camille
) -> None:
    """The audit's reproduction (G9): a certified identity that is not Camille's types her right numbers."""
    identities[:] = [NOBODY]
    sign_in_with_franceconnect(client, fc, 0)
    alert = _reads_as_wrong_numbers(client, camille)
    assert NEUTRAL in alert and IDENTITY_REFUSED in alert and ADDRESS_REFUSED not in alert
    assert not any(tell in alert for tell in TELLS_A_LICENCE)


def test_a_refusal_counts_towards_the_lockout(camille) -> None:
    client = signed_in(local_account("someone.else@example.fr"))
    for _n in range(5):
        post_card(client, camille)
    assert "Trop de tentatives ont échoué" in post_card(client, camille).content.decode()


def test_the_file_s_address_links_logs_mails_and_says_so_on_the_landing_page(camille, mailoutbox) -> None:
    Holder.objects.filter(pk=camille.holder_id).update(email="Camille@Example.FR")
    client = signed_in(local_account())
    landing = client.post(reverse("accounts:link"), card_of(camille), follow=True)
    assert landing.redirect_chain[-1][0] == reverse("dossier:dashboard")
    page = landing.content.decode()
    assert LINKED in page and 'id="balance"' in page
    link = HolderLink.objects.get()
    assert link.holder == camille.holder and link.method == "licence_form"
    entry = accesses_of(camille.holder).get()
    assert (entry.role, entry.channel, entry.purpose) == ("account_link", "portal", "holder_request")
    assert EMAIL in entry.actor_label and entry.shown == ["dossier complet"]
    assert [m.to for m in mailoutbox] == [["Camille@Example.FR"]]
    body = mailoutbox[0].body
    assert EMAIL in body and "http://testserver/mon-espace/consultations/" in body
    # shown once: the next visit (and the page kept in the cache) no longer carries it
    assert LINKED not in client.get(reverse("dossier:dashboard")).content.decode()
    assert LINKED not in client.get(reverse("dossier:dashboard")).content.decode()
    # the holder sees it under "Consultations de mon dossier"
    log = client.get(reverse("demarches:access_log")).content.decode()
    assert "Rattachement d&#x27;un compte" in log or "Rattachement d'un compte" in log
    assert EMAIL in log


def test_a_mail_server_down_does_not_undo_the_link(camille, settings, monkeypatch) -> None:
    Holder.objects.filter(pk=camille.holder_id).update(email=EMAIL)

    def down(*args: Any, **kwargs: Any) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(linking, "send_mail", down)
    client = signed_in(local_account())
    assert post_card(client, camille).status_code == 302
    assert HolderLink.objects.exists() and accesses_of(camille.holder).count() == 1


# -- H2: an agent's user -----------------------------------------------------------------------------------------
ACCOUNT_PAGES = ["accounts:home", "accounts:link", "accounts:security", "accounts:totp_setup"]


def test_an_agent_cannot_use_the_linking_page(camille) -> None:
    """The review's reproduction: agent.paris, signed in at /gestion/, posts a holder's card."""
    user = agent()
    client = signed_in(user)
    for name in ACCOUNT_PAGES:
        answer = client.get(reverse(name))
        assert answer.status_code == 403, name
        assert NOT_FOR_AGENTS in answer.content.decode() and 'href="/gestion/"' in answer.content.decode()
    answer = post_card(client, camille)
    assert answer.status_code == 403
    for name in ("accounts:totp_disable", "accounts:logout_everywhere"):
        assert client.post(reverse(name)).status_code == 403, name
    assert not HolderLink.objects.exists() and not Account.objects.filter(user=user).exists()


def test_an_agent_with_a_link_still_never_reaches_the_file_through_the_holder_space(camille) -> None:
    user = agent()
    HolderLink.objects.create(user=user, holder=camille.holder, method="licence_form")
    client = signed_in(user)
    for url in ("/mon-espace/", "/mon-espace/historique/", "/mon-espace/consultations/", "/compte/"):
        answer = client.get(url)
        assert answer.status_code == 403, url
        assert camille.number not in answer.content.decode() and "MARTIN" not in answer.content.decode(), url


# -- two requests of one account at the same time ----------------------------------------------------------------
ALREADY_LINKED = "Votre compte est déjà rattaché à un permis"


def _other_request_links_meanwhile(monkeypatch: pytest.MonkeyPatch, user: User, holder: Holder) -> None:
    """The interleaving of a double click, made deterministic: this request has seen no link (the view's first
    check), then another request of the same account makes its link (whole: committed, logged, mailed) before
    this one writes its own."""
    real_refusal = linking.refusal

    def refusal(request: Any, account: Account, checked: Holder) -> str:
        monkeypatch.setattr(linking, "refusal", real_refusal)
        linking.link(None, user, Holder.objects.get(pk=holder.pk), LinkMethod.LICENCE_FORM)
        return real_refusal(request, account, checked)

    monkeypatch.setattr(linking, "refusal", refusal)


def test_a_second_identical_request_gets_the_link_the_first_made_not_a_500(
    camille, monkeypatch, mailoutbox
) -> None:
    Holder.objects.filter(pk=camille.holder_id).update(email=EMAIL)
    user = local_account()
    client = signed_in(user)
    _other_request_links_meanwhile(monkeypatch, user, camille.holder)
    answer = post_card(client, camille)
    assert answer.status_code == 302 and answer["Location"] == reverse("accounts:home")
    landing = client.get(answer["Location"], follow=True)
    assert landing.redirect_chain[-1][0] == reverse("dossier:dashboard")
    assert LINKED in landing.content.decode()
    assert HolderLink.objects.get().holder == camille.holder
    assert accesses_of(camille.holder).count() == 1  # the first request's entry only
    assert [m.to for m in mailoutbox] == [[EMAIL]]


def test_a_concurrent_link_to_another_file_stays_and_the_page_says_why(
    camille, monkeypatch, mailoutbox
) -> None:
    """Two tabs, two files of the same person (homonyms or a duplicate): the first link made is the one kept."""
    Holder.objects.filter(pk=camille.holder_id).update(email=EMAIL)
    other = factories.licence(
        holder=factories.holder(birth_name="MARTIN", email=EMAIL), number="CAM0000000002"
    )
    user = local_account()
    client = signed_in(user)
    _other_request_links_meanwhile(monkeypatch, user, other.holder)
    answer = post_card(client, camille)
    assert answer.status_code == 302 and answer["Location"] == reverse("accounts:home")
    page = client.get(answer["Location"], follow=True).content.decode()
    assert ALREADY_LINKED in page and LINKED not in page
    assert HolderLink.objects.get().holder == other.holder
    assert not accesses_of(camille.holder).exists() and accesses_of(other.holder).count() == 1
    assert len(mailoutbox) == 1


def test_linking_again_answers_the_existing_link_and_writes_nothing(camille, mailoutbox) -> None:
    user = local_account()
    first, made = linking.link(None, user, camille.holder, LinkMethod.LICENCE_FORM)
    assert made
    again, made = linking.link(None, user, camille.holder, LinkMethod.LICENCE_FORM)
    assert (again.pk, made) == (first.pk, False)
    assert accesses_of(camille.holder).count() == 1 and len(mailoutbox) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_at_the_same_time_make_one_link(camille, monkeypatch, mailoutbox) -> None:
    """Two threads, two connections, the same card posted by the same account: both have checked that the
    account has no link before either writes one; the second insert waits for the first commit, then fails on
    the unique link. Both answers are the link's answer; one link, one entry, one email."""
    Holder.objects.filter(pk=camille.holder_id).update(email=EMAIL)
    user = local_account()
    clients = [signed_in(user), signed_in(user)]
    both_checked = threading.Barrier(2, timeout=20)
    real_refusal = linking.refusal

    def refusal_then_wait(request: Any, account: Account, holder: Holder) -> str:
        reason = real_refusal(request, account, holder)
        both_checked.wait()  # both requests have seen no link: now both write one
        return reason

    monkeypatch.setattr(linking, "refusal", refusal_then_wait)
    answers: list[Any] = [None, None]

    def post(index: int) -> None:
        try:
            answers[index] = post_card(clients[index], camille)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            answers[index] = error
        finally:
            connection.close()  # this thread's connection, or the test database cannot be dropped

    threads = [threading.Thread(target=post, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [getattr(a, "status_code", a) for a in answers] == [302, 302]
    assert [a["Location"] for a in answers] == [reverse("accounts:home")] * 2
    assert HolderLink.objects.get().holder == camille.holder
    assert accesses_of(camille.holder).count() == 1
    assert [m.to for m in mailoutbox] == [[EMAIL]]
