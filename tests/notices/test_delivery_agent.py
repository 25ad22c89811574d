"""/gestion/notifications/: agents only; the figures, the failed deliveries and the retry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User

from permis.notices import services
from permis.notices.agent_views import bar_chart
from permis.notices.models import Delivery
from permis.registry.models import Notice

from .test_delivery import due, person

pytestmark = pytest.mark.django_db

PAGE = "/gestion/notifications/"


def agent(*codenames: str) -> User:
    user = User.objects.create_user("agent", password="correct horse battery staple")
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="notices", codename__in=codenames)
    )
    return user


def failed_letter() -> Delivery:
    lic = person("post", address="")
    due(lic, "48")
    Notice.objects.update(due_on=dt.date(2020, 1, 1))
    services.plan_deliveries()
    return Delivery.objects.get()


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
    agent("view_delivery")
    row = failed_letter()
    due(person("electronic"), "48")
    Notice.objects.update(due_on=dt.date(2020, 1, 1))
    services.plan_deliveries()
    response = client.post(
        "/gestion/connexion/", {"username": "agent", "password": "correct horse battery staple", "next": PAGE}
    )
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
    assert set(names) == {"login", "logout", "notices", "retry"}
    for name, route in names.items():
        if name in {"login", "logout"}:
            continue
        url = "/gestion/" + route.replace("<int:pk>", "1")
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code in {302, 405}, (url, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/gestion/connexion/")


def test_the_bars_are_proportional() -> None:
    chart = bar_chart([("a", 10), ("b", 5), ("c", 0)])
    assert [bar.width for bar in chart.bars] == [410.0, 205.0, 0.0]
    assert bar_chart([("a", 0)]).bars[0].width == 0
