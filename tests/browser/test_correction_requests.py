"""« Demander une correction » in a real browser: the empty page, the form sent with an error (the summary first,
its link to the field), then sent right, and the request's page; axe-core finds no violation on any of them."""

from __future__ import annotations

from typing import Any

import pytest

from .test_demarches import make_holder_session, sign_in
from .test_simulator import assert_no_axe_violation, assert_no_horizontal_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("device", ["page", "phone"])
def test_a_holder_asks_for_a_correction(device: str, request: Any, live_server: Any) -> None:
    page = request.getfixturevalue(device)
    session = make_holder_session()
    sign_in(page, live_server, session)
    page.goto(f"{live_server.url}/mon-espace/corrections/")
    page.get_by_role("heading", level=1, name="Demander une correction").wait_for()
    assert_no_axe_violation(page)
    if device == "phone":
        assert_no_horizontal_scroll(page)
    page.get_by_label("Élément concerné").select_option("autre")
    page.get_by_role("button", name="Envoyer ma demande").click()
    summary = page.locator("#erreurs")
    summary.wait_for()
    assert "Qu’est-ce qui est inexact ? : Décrivez ce qui est inexact." in summary.inner_text()
    assert page.title().startswith("Erreur : ")
    assert_no_axe_violation(page)
    page.get_by_label("Qu’est-ce qui est inexact ?").fill("Ma date de permis est fausse.")
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.get_by_role("heading", level=1).filter(has_text="Demande de correction DC-").wait_for()
    assert "En attente de traitement" in page.content()
    assert_no_axe_violation(page)
