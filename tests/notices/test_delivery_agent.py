"""/gestion/notifications/: agents only; the figures, the failed deliveries and the retry."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from permis.accounts.models import Failure
from permis.audit.models import AccessLog
from permis.backoffice.models import AgentProfile
from permis.notices import services
from permis.notices.agent_views import bar_chart
from permis.notices.models import Delivery
from permis.registry.models import Notice
from tests.backoffice.helpers import enrol, next_code

from .test_delivery import due, person

pytestmark = pytest.mark.django_db

PAGE = "/gestion/notifications/"


PASSWORD = "correct horse battery staple"
LOGIN = "/gestion/connexion/"
CODE = "/gestion/connexion/code/"  # the second factor, after the password


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Passwords are hashed with PBKDF2's full cost in production; the tests hash dozens of them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def agent(
    *codenames: str, login: str = "agent", role: str | None = "agent", departements: tuple[str, ...] = ("75",)
) -> User:
    """A user with these permissions and, unless `role` is None, an agent's profile (the 75 by default)."""
    user = User.objects.create_user(login, password=PASSWORD)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="notices", codename__in=codenames)
    )
    if role is not None:
        AgentProfile.objects.create(
            user=user, role=role, departements=list(departements) if role == "agent" else []
        )
    return user


def failed_letter(postal_code: str = "75011") -> Delivery:
    lic = person("post", address="", postal_code=postal_code)
    due(lic, "48")
    Notice.objects.update(due_on=dt.date(2020, 1, 1))
    services.plan_deliveries()
    return Delivery.objects.get(notice__licence=lic)


def test_an_anonymous_visitor_is_sent_to_the_login_page(client) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == f"/gestion/connexion/?next={PAGE}"
    assert client.get("/gestion/connexion/").status_code == 200


def test_a_signed_in_user_without_the_permission_gets_403(client) -> None:
    client.force_login(agent())
    assert client.get(PAGE).status_code == 403


def test_an_agent_signs_in_and_sees_the_figures_and_the_failed_deliveries(client, settings) -> None:
    settings.POSTAGE_UNIT_COST_CENTS = 152
    user = agent("view_delivery")
    enrol(user)
    row = failed_letter()
    due(person("electronic"), "48")
    Notice.objects.update(due_on=dt.date(2020, 1, 1))
    services.plan_deliveries()
    response = client.post(LOGIN, {"username": "agent", "password": PASSWORD, "next": PAGE})
    assert response.status_code == 302 and response["Location"] == CODE
    response = client.post(CODE, {"code": next_code(user)})
    assert response.status_code == 302 and response["Location"] == PAGE
    page = client.get(PAGE).content.decode()
    assert 'id="figure-total">3<' in page
    assert 'id="figure-failed">1<' in page
    assert 'id="figure-not-posted">1<' in page
    assert "1,52 €" in page
    assert row.notice.licence.number in page and "adresse postale incomplète" in page
    assert "Relancer" not in page  # viewing only
    assert client.post(f"/gestion/notifications/envois/{row.pk}/relancer/").status_code == 403


def test_an_agent_with_the_change_permission_retries_a_failed_delivery(client) -> None:
    client.force_login(agent("view_delivery", "change_delivery"))
    row = failed_letter()
    assert client.get(f"/gestion/notifications/envois/{row.pk}/relancer/").status_code == 405
    response = client.post(f"/gestion/notifications/envois/{row.pk}/relancer/", follow=True)
    assert "non relancé" in response.content.decode()  # the address is still missing
    holder = row.notice.licence.holder
    holder.address = "3 place de la Mairie"
    holder.save()
    response = client.post(f"/gestion/notifications/envois/{row.pk}/relancer/", follow=True)
    assert "remis dans la file" in response.content.decode()
    row.refresh_from_db()
    assert row.status == "pending" and "relancé par agent" in row.last_error


def test_a_period_after_its_end_is_refused_with_a_message(client) -> None:
    client.force_login(agent("view_delivery"))
    page = client.get(PAGE, {"start": "2026-03-02", "end": "2026-03-01"}).content.decode()
    assert "La date de début doit précéder la date de fin." in page


def test_every_notices_page_for_agents_but_the_login_requires_a_signed_in_agent(client) -> None:
    from permis.notices import agent_urls

    names = {pattern.name: str(pattern.pattern) for pattern in agent_urls.urlpatterns}
    assert set(names) == {"login", "login_code", "login_enrol", "logout", "notices", "retry"}
    for name, route in names.items():
        if name in {"login", "login_code", "login_enrol", "logout"}:  # the sign-in's steps (tests/backoffice)
            continue
        url = "/gestion/" + route.replace("<int:pk>", "1")
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code in {302, 405}, (url, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/gestion/connexion/")


# -- finding 3: the failed letters of one's départements only -------------------------------------------------------
def test_an_agent_sees_only_the_failed_letters_of_their_departements_and_each_file_shown_is_logged(
    client,
) -> None:
    paris, strasbourg = failed_letter("75011"), failed_letter("67000")
    paris.last_error, strasbourg.last_error = (
        "550 mailbox paris@example.org",
        "550 mailbox alsace@example.org",
    )
    Delivery.objects.bulk_update([paris, strasbourg], ["last_error"])
    client.force_login(agent("view_delivery", departements=("75", "92")))
    page = client.get(PAGE).content.decode()
    assert paris.notice.licence.number in page and "paris@example.org" in page
    assert strasbourg.notice.licence.number not in page and "alsace@example.org" not in page
    # The read of the Parisian file is in its holder's access log; nothing in the other one's.
    (entry,) = AccessLog.objects.filter(holder_id=paris.notice.licence.holder_id)
    assert (entry.actor, entry.role, entry.purpose, entry.channel, entry.licence_id) == (
        f"user:{User.objects.get(username='agent').pk}",
        "agent",
        "licence_management",
        "back_office",
        paris.notice.licence_id,
    )
    assert entry.shown == ["envois en échec : lettre, numéro du permis, canal, dernière erreur"]
    assert not AccessLog.objects.filter(holder_id=strasbourg.notice.licence.holder_id).exists()


def test_a_supervisor_sees_every_failed_letter_and_a_user_without_an_agent_profile_none() -> None:
    paris, strasbourg = failed_letter("75011"), failed_letter("67000")
    supervisor = Client()
    supervisor.force_login(agent("view_delivery", login="sup", role="supervisor"))
    page = supervisor.get(PAGE).content.decode()
    assert paris.notice.licence.number in page and strasbourg.notice.licence.number in page
    assert AccessLog.objects.filter(role="supervisor").count() == 2
    nobody = Client()
    nobody.force_login(agent("view_delivery", login="noprofile", role=None))
    page = nobody.get(PAGE).content.decode()
    assert paris.notice.licence.number not in page and strasbourg.notice.licence.number not in page
    assert "Aucun envoi en échec." in page


def test_a_retry_outside_the_agents_departements_is_refused_and_changes_nothing() -> None:
    strasbourg = failed_letter("67000")
    holder = strasbourg.notice.licence.holder
    holder.address = "3 place de la Mairie"  # a retry would now put the letter back in the queue
    holder.save()
    before = Delivery.objects.values().get(pk=strasbourg.pk)
    url = f"/gestion/notifications/envois/{strasbourg.pk}/relancer/"
    paris_agent = Client()
    paris_agent.force_login(agent("view_delivery", "change_delivery"))
    assert paris_agent.post(url).status_code == 403
    nobody = Client()
    nobody.force_login(agent("view_delivery", "change_delivery", login="noprofile", role=None))
    assert nobody.post(url).status_code == 403
    assert Delivery.objects.values().get(pk=strasbourg.pk) == before
    assert paris_agent.post("/gestion/notifications/envois/999999/relancer/").status_code == 404
    # The 67's agent may.
    alsace_agent = Client()
    alsace_agent.force_login(agent("view_delivery", "change_delivery", login="a67", departements=("67",)))
    assert alsace_agent.post(url).status_code == 302
    strasbourg.refresh_from_db()
    assert strasbourg.status == "pending" and "relancé par a67" in strasbourg.last_error


# -- finding 2: the agents' sign-in is throttled -----------------------------------------------------------------
def sign_in(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    """The password's step: a right password leads to the code's (CODE)."""
    return client.post(LOGIN, {"username": username, "password": password, "next": PAGE}, REMOTE_ADDR=address)


def type_code(client: Client, user: User, address: str = "203.0.113.7"):
    return client.post(CODE, {"code": next_code(user)}, REMOTE_ADDR=address)


def test_after_five_wrong_passwords_even_the_right_one_is_refused_until_the_window_has_passed() -> None:
    user = agent("view_delivery")
    enrol(user)
    client = Client()
    for _ in range(5):
        response = sign_in(client, "agent", "wrong")
        assert response.status_code == 400
        assert "Trop de tentatives" not in response.content.decode()
    response = sign_in(client, "agent", PASSWORD)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Trop de tentatives de connexion ont échoué : par sécurité, réessayez dans 15 minutes." in page
    assert "_auth_user_id" not in client.session
    assert client.get(PAGE).status_code == 302  # not signed in
    # The login is counted whatever its case, and from another address too.
    assert "Trop de tentatives" in sign_in(Client(), "AGENT", PASSWORD, "198.51.100.2").content.decode()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        response = sign_in(client, "agent", PASSWORD)
        assert response.status_code == 302 and response["Location"] == CODE
        response = type_code(client, user)
        assert response.status_code == 302 and response["Location"] == PAGE
        assert client.get(PAGE).status_code == 200


def test_the_message_says_when_to_try_again(settings) -> None:
    settings.ACCOUNTS_THROTTLE = {"LIMIT": 2, "WINDOW_MINUTES": 30}
    agent("view_delivery")
    client = Client()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        sign_in(client, "agent", "wrong")
    with time_machine.travel(start + dt.timedelta(minutes=10), tick=False):
        sign_in(client, "agent", "wrong")
    with time_machine.travel(start + dt.timedelta(minutes=29, seconds=30), tick=False):
        page = sign_in(client, "agent", PASSWORD).content.decode()
        assert "réessayez dans 1 minute." in page  # the first failure leaves the window in 30 s
    with time_machine.travel(start + dt.timedelta(minutes=31), tick=False):
        page = sign_in(client, "agent", "wrong").content.decode()
        assert "Trop de tentatives" not in page  # one failure left in the window, one more counted
        page = sign_in(client, "agent", PASSWORD).content.decode()
        assert "réessayez dans 9 minutes." in page  # when the failure of minute 10 leaves the window


def test_one_address_spraying_many_logins_is_locked_out_of_every_login(settings) -> None:
    settings.ACCOUNTS_THROTTLE = {"ADDRESS_LIMIT": 6}
    agent("view_delivery")
    for n in range(6):
        assert sign_in(Client(), f"someone{n}", "wrong").status_code == 400
    response = sign_in(Client(), "agent", PASSWORD)
    assert response.status_code == 400 and "Trop de tentatives" in response.content.decode()
    # Another address is not locked.
    assert sign_in(Client(), "agent", PASSWORD, "198.51.100.2").status_code == 302


def test_a_success_clears_the_logins_count_and_the_holders_sign_in_keeps_its_own() -> None:
    user = agent("view_delivery")
    enrol(user)
    for _ in range(4):
        sign_in(Client(), "agent", "wrong")
    client = Client()
    assert sign_in(client, "agent", PASSWORD).status_code == 302
    assert type_code(client, user)["Location"] == PAGE  # the sign-in is complete: the count is cleared
    for _ in range(4):
        sign_in(Client(), "agent", "wrong")
    assert sign_in(Client(), "agent", PASSWORD).status_code == 302  # 4 failures since the success: not locked
    # The login's 4 failures since the complete sign-in stay until the next one (a right password alone clears
    # nothing); the address's count stays (a spray is not reset by one good sign-in); none is the holders' "login".
    assert set(Failure.objects.values_list("key", flat=True)) == {
        "agent_login:address:203.0.113.7",
        "agent_login:account:agent",
    }
    assert Failure.objects.filter(key="agent_login:account:agent").count() == 4


def test_a_missing_password_is_not_counted() -> None:
    agent("view_delivery")
    response = Client().post(LOGIN, {"username": "agent", "password": ""}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 400
    assert not Failure.objects.exists()


def test_the_bars_are_proportional() -> None:
    chart = bar_chart([("a", 10), ("b", 5), ("c", 0)])
    assert [bar.width for bar in chart.bars] == [410.0, 205.0, 0.0]
    assert bar_chart([("a", 0)]).bars[0].width == 0
