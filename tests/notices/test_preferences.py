"""Opting in and out of electronic notice and SMS alerts: validated, recorded with the exact text, one transaction."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
import time_machine
from django.utils import translation

from permis.notices import preferences
from permis.notices.models import NoticePreference
from permis.notices.preferences import (
    PreferenceError,
    consent_text,
    current_version,
    history,
    set_preferences,
)
from permis.registry.models import Holder
from permis.rules.parameters import parameter
from tests.registry.factories import holder

pytestmark = pytest.mark.django_db


@pytest.fixture
def person() -> Holder:
    row = holder(email="", phone="")
    row.save()
    return row


def opt_in(person: Holder, **fields) -> NoticePreference:
    values = {
        "electronic": True,
        "sms": False,
        "email": "camille@example.fr",
        "phone": None,
        "accepted_text_version": "electronic@1",
        "recorded_by": f"holder:{person.pk}",
    }
    values.update(fields)
    return set_preferences(person, **values)


def test_opting_in_records_the_text_accepted_and_updates_the_holder(person: Holder) -> None:
    choice = opt_in(person, sms=True, phone="06 12 34 56 78")
    person.refresh_from_db()
    assert (person.notice_channel, person.sms_alerts, person.email, person.phone) == (
        "electronic",
        True,
        "camille@example.fr",
        "+33612345678",
    )
    assert (choice.electronic, choice.sms, choice.email, choice.phone) == (
        True,
        True,
        "camille@example.fr",
        "+33612345678",
    )
    assert choice.text_version == "electronic@1" and choice.recorded_by == f"holder:{person.pk}"
    assert choice.accepted_text == consent_text("electronic@1", "fr")


def test_the_accepted_text_says_what_the_law_makes_of_the_choice() -> None:
    with time_machine.travel(dt.datetime(2025, 6, 1, 10, tzinfo=dt.UTC)):
        days = parameter("notices.e_notice_deemed_after_days").at(dt.date(2025, 6, 1))
        french = consent_text("electronic@1", "fr")
        english = consent_text("electronic@1", "en")
    assert "{" not in french and "{" not in english
    assert f"délai de {days} jours" in french and f"{days} days" in english
    assert "première fois" in french and "délais de recours" in french
    assert "48N" in french and "48SI" in french and "recommandée" in french
    assert "renoncer à tout moment" in french
    assert "first open" in english and "time limits to appeal" in english and "registered letter" in english
    assert "R223-3-1" in french and "R223-3-1" in english


def test_the_text_names_the_delay_in_force_on_the_day_it_is_accepted(person: Holder) -> None:
    class Twenty:
        def at(self, on: dt.date) -> int:
            return 20

    with mock.patch("permis.notices.legal.parameter", return_value=Twenty()):
        choice = opt_in(person)
    assert "délai de 20 jours" in choice.accepted_text


def test_the_english_text_is_stored_when_the_holder_read_it_in_english(person: Holder) -> None:
    choice = opt_in(person, language="en")
    assert choice.accepted_text == consent_text("electronic@1", "en")
    assert choice.accepted_text.startswith("Conditions of electronic notice")


def test_opting_out_is_recorded_the_same_way_and_ends_the_sms(person: Holder) -> None:
    opt_in(person, sms=True, phone="+33 6 12 34 56 78")
    choice = set_preferences(
        person,
        electronic=False,
        sms=False,
        email=None,
        phone=None,
        accepted_text_version=current_version("post"),
        recorded_by="agent:jdupont",
    )
    person.refresh_from_db()
    assert (person.notice_channel, person.sms_alerts) == ("post", False)
    assert (person.email, person.phone) == ("camille@example.fr", "+33612345678")  # kept: None keeps them
    assert choice.text_version == "post@1" and choice.accepted_text.startswith("Renonciation")
    assert [(c.electronic, c.sms, c.text_version, c.recorded_by) for c in history(person)] == [
        (True, True, "electronic@1", f"holder:{person.pk}"),
        (False, False, "post@1", "agent:jdupont"),
    ]


def test_every_choice_is_kept_in_order(person: Holder) -> None:
    opt_in(person)
    opt_in(person, sms=True, phone="0712345678")
    opt_in(person, email="camille.martin@example.org")
    rows = history(person)
    assert [(r.sms, r.email, r.phone) for r in rows] == [
        (False, "camille@example.fr", ""),
        (True, "camille@example.fr", "+33712345678"),
        (False, "camille.martin@example.org", "+33712345678"),
    ]


def test_electronic_notice_needs_an_email_address(person: Holder) -> None:
    with pytest.raises(PreferenceError) as error:
        opt_in(person, email="")
    assert error.value.by_field == {
        "email": [
            "La notification électronique demande une adresse électronique : un courriel signale chaque lettre."
        ]
    }
    with pytest.raises(PreferenceError, match="email: « camille@ » n’est pas une adresse électronique"):
        opt_in(person, email="camille@")


def test_sms_alerts_need_a_mobile_number_and_electronic_notice(person: Holder) -> None:
    with pytest.raises(PreferenceError) as error:
        opt_in(person, sms=True, phone="")
    assert error.value.problems == ["phone: Les alertes par SMS demandent un numéro de téléphone mobile."]
    with pytest.raises(PreferenceError) as error:
        set_preferences(
            person,
            electronic=False,
            sms=True,
            email="",
            phone="0612345678",
            accepted_text_version="post@1",
            recorded_by="agent:jdupont",
        )
    assert list(error.value.by_field) == ["sms"]
    assert "vont avec la notification électronique" in error.value.problems[0]
    with pytest.raises(PreferenceError) as error:
        opt_in(person, sms=True, phone="12")
    assert len(error.value.problems) == 1 and error.value.problems[0].startswith("phone: ")
    with pytest.raises(
        PreferenceError, match=r"phone: Le numéro \+33142765432 n’est pas un numéro de mobile"
    ):
        opt_in(person, sms=True, phone="01 42 76 54 32")
    assert opt_in(person, phone="01 42 76 54 32").phone == "+33142765432"  # a fixed line, without SMS


def test_the_holders_reasons_are_in_english_too(person: Holder) -> None:
    with translation.override("en"), pytest.raises(PreferenceError) as error:
        opt_in(person, email="camille@", sms=True, phone="01 42 76 54 32")
    assert error.value.problems == [
        "email: “camille@” is not an email address.",
        "phone: +33142765432 is not a mobile number (06 or 07): it cannot receive SMS.",
    ]


def test_the_text_must_be_a_published_version_of_the_right_kind(person: Holder) -> None:
    with pytest.raises(PreferenceError, match="'electronic@9' is not a published text"):
        opt_in(person, accepted_text_version="electronic@9")
    with pytest.raises(PreferenceError, match="this choice needs a electronic@n text"):
        opt_in(person, accepted_text_version="post@1")
    with pytest.raises(PreferenceError, match="language: 'de'"):
        opt_in(person, language="de")
    with pytest.raises(PreferenceError, match="recorded_by"):
        opt_in(person, recorded_by=" ")


def test_a_refused_choice_writes_nothing(person: Holder) -> None:
    with pytest.raises(PreferenceError) as error:
        opt_in(person, email="nope", sms=True, phone="", accepted_text_version="electronic@9")
    assert [p.split(":")[0] for p in error.value.problems] == [
        "email",
        "phone",
        "accepted_text_version",
    ]
    person.refresh_from_db()
    assert (person.notice_channel, person.email) == ("post", "")
    assert not NoticePreference.objects.exists()


def test_the_holder_and_the_record_change_together_or_not_at_all(person: Holder) -> None:
    with (
        mock.patch.object(NoticePreference.objects, "create", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        opt_in(person)
    person.refresh_from_db()
    assert (person.notice_channel, person.email) == ("post", "")


def test_the_published_versions_exist_in_french_and_english() -> None:
    for kind in preferences.KINDS:
        for version in preferences.versions(kind):
            for language in preferences.LANGUAGES:
                assert consent_text(version, language).strip()
    assert current_version("electronic") == "electronic@2"
