"""`permis demo`: a realistic population, written in bulk exactly as the service layer would write it."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from permis.registry.demo import Population, named_people
from permis.registry.models import Event, Licence, Notice, Projection
from permis.registry.services import today
from permis.registry.services.integrity import verify

pytestmark = pytest.mark.django_db


def run_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", *args, "--quiet", stdout=out)
    return out.getvalue()


def test_the_demo_fills_an_empty_file_with_the_named_holders_and_a_population() -> None:
    output = run_demo("--licences", "300", "--seed", "3")
    assert Licence.objects.count() == 300
    for person in named_people(today()):
        assert person.licence["number"] in output
    assert "Répartition des soldes" in output


def test_the_bulk_loaded_file_verifies_as_if_written_one_change_at_a_time() -> None:
    run_demo("--licences", "300", "--seed", "4")
    report = verify()
    assert report.licences == 300
    assert report.discrepancies == []


def test_the_population_looks_like_the_national_one() -> None:
    run_demo("--licences", "600", "--seed", "5")
    at_twelve = Projection.objects.filter(balance=12).count() / 600
    assert 0.65 <= at_twelve <= 0.9  # "8 drivers in 10 at 12 points"
    assert Projection.objects.exclude(probation_end=None).exists()
    assert Event.objects.filter(kind="course").exists()
    assert Projection.objects.filter(balance__lt=12).exists()


def test_the_named_holders_show_every_situation() -> None:
    run_demo("--licences", "8")
    statuses = set(Projection.objects.values_list("status", flat=True))
    assert {"valid", "zero_balance", "invalidated"} <= statuses
    assert Projection.objects.filter(suspended=True).exists()
    assert Notice.objects.filter(code="48N").exists()


def test_the_demo_refuses_a_file_that_is_not_empty_unless_asked_to_skip() -> None:
    run_demo("--licences", "8")
    with pytest.raises(CommandError, match="vide"):
        run_demo("--licences", "8")
    assert "non rechargées" in run_demo("--licences", "8", "--if-empty")
    assert Licence.objects.count() == 8


def test_the_same_seed_gives_the_same_population() -> None:
    first = [p.licence["obtained_on"] for p, _ in zip(Population(today(), 9), range(50))]
    second = [p.licence["obtained_on"] for p, _ in zip(Population(today(), 9), range(50))]
    assert first == second
