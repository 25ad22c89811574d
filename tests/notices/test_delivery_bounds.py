"""The agents' delivery page refuses an impossible period (400, the error, no figures), and `permis notices`
bounds its numbers (exit status 2 with a message, not a database error)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from permis.audit.models import AccessLog

from .test_delivery_agent import PAGE, agent, failed_letter

pytestmark = pytest.mark.django_db


def test_an_impossible_period_is_a_400_with_its_error_and_no_figures(client) -> None:
    failed_letter()
    client.force_login(agent("view_delivery"))
    response = client.get(PAGE, {"start": "2027-01-01", "end": "2026-01-01"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "La date de début doit précéder la date de fin." in page
    assert 'id="figure-total"' not in page and "Envois par canal" not in page
    assert "Envois en échec" not in page
    assert not AccessLog.objects.exists()  # no file was shown
    response = client.get(PAGE, {"start": "2026-13-45"})
    assert response.status_code == 400 and 'id="figure-total"' not in response.content.decode()


def test_a_valid_period_or_none_shows_the_figures(client) -> None:
    client.force_login(agent("view_delivery"))
    for params in ({}, {"start": "2026-01-01", "end": "2026-01-01"}, {"start": "2026-01-01"}):
        response = client.get(PAGE, params)
        assert response.status_code == 200 and 'id="figure-total"' in response.content.decode()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["send", "--batch", "99999999999999999999"], "--batch"),
        (["send", "--batch", "100001"], "--batch"),
        (["send", "--batch", "²"], "--batch"),
        (["send", "--batch", "0"], "--batch"),
        (["plan", "--limit", "99999999999999999999"], "--limit"),
    ],
)
def test_a_number_out_of_bounds_exits_2_with_a_message(args: list[str], option: str) -> None:
    with pytest.raises(CommandError, match=f"{option}.*whole number from 1 to 100,000"):
        call_command("notices", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_the_largest_batch_is_accepted() -> None:
    out = io.StringIO()
    call_command("notices", "send", "--batch", "100000", "--quiet", stdout=out)
    assert "sent 0 deliveries" in out.getvalue()
