"""/gestion/journal/: the auditor reads the access log (PRODUCT.md, the actors table), filtered and paginated,
with the state of its chains; only the auditor gets in, and the reading is itself recorded."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.utils import timezone

from permis.api.models import ApiKey
from permis.audit import services as audit
from permis.audit.models import AccessLog, ChainHead
from permis.backoffice.journal import JOURNAL_SHOWN, PAGE_SIZE

from .helpers import agent, client_for, file_in

pytestmark = pytest.mark.django_db

URL = "/gestion/journal/"


def _read(lic, n: int = 0, **extra) -> AccessLog:
    values = {
        "actor": f"user:{n}",
        "actor_label": f"Agent n° {n}, préfecture",
        "role": "agent",
        "holder": lic.holder,
        "licence": lic,
        "purpose": "licence_management",
        "shown": ["identité", "solde"],
        "channel": "back_office",
    }
    values.update(extra)
    return audit.log_access(**values)


def _rows(html: str) -> str:
    return (
        html.split('id="journal-entries"', 1)[1].split("</tbody>", 1)[0] if "journal-entries" in html else ""
    )


def test_only_the_auditor_reads_the_log() -> None:
    assert client_for(agent("auditor", ())).get(URL).status_code == 200
    assert client_for(agent()).get(URL).status_code == 403  # least privilege: agents never
    assert client_for(agent("supervisor", ())).get(URL).status_code == 403  # not in the actors table either
    home = client_for(agent("auditor", ())).get("/gestion/")
    assert home["Location"] == URL


def test_the_auditor_sees_the_entries_newest_first_with_the_chains_state() -> None:
    lic = file_in("75011")
    _read(lic, 1, purpose_detail="premier")
    _read(lic, 2, role="police", channel="api", purpose="roadside_check", actor="key:abcd1234")
    auditor = client_for(agent("auditor", ()))
    response = auditor.get(URL)
    html = response.content.decode()
    rows = _rows(html)
    assert rows.index("Police ou gendarmerie") < rows.index("premier")  # newest first
    assert lic.number in rows and "Contrôle routier" in rows and "identité, solde" in rows
    assert "<caption>Entrées du journal, de la plus récente à la plus ancienne</caption>" in html
    assert '<th scope="col">Informations consultées</th>' in html
    assert '<label class="fr-label" for="id_licence_number">' in html
    assert lic.holder.birth_name not in html  # logs, not files: never the holder's name
    assert "Aucune vérification complète enregistrée" in html
    assert "la dernière entrée de chacune est celle qu’elle nomme" in html or "la seule chaîne" in html
    # The side menu leads there.
    assert 'href="/gestion/journal/" aria-current="page"' in html


def test_the_filters_keep_the_entries_they_name() -> None:
    lic, other = file_in("75011"), file_in("69003")
    camille = agent(login="camille")
    _read(lic, camille.pk, actor=f"user:{camille.pk}", actor_label="Camille (Agent de préfecture)")
    _read(other, 9, purpose="holder_request", purpose_detail="appel du 3 mars")
    ApiKey.objects.issue(name="Gendarmerie du Rhône", scopes=["police"])
    key = ApiKey.objects.get()
    _read(other, 10, role="police", channel="api", actor=f"key:{key.prefix}", actor_label=key.name)
    _read(
        other, 11, role="third_party", channel="share_code", actor="share:7", actor_label="Loueur (code …K7)"
    )
    auditor = client_for(agent("auditor", ()))

    def shown(**query) -> str:
        response = auditor.get(URL, query)
        assert response.status_code == 200, response.content.decode()
        return _rows(response.content.decode())

    by_licence = shown(licence_number=lic.number.lower())
    assert "Camille" in by_licence and "appel du 3 mars" not in by_licence
    assert "Camille" in shown(actor="camille")  # an agent's login
    assert "Gendarmerie" in shown(actor=key.prefix) and "Camille" not in shown(actor=key.prefix)
    assert "Gendarmerie" in shown(actor="gendarmerie du rhône")  # a partner's name
    assert "Loueur" in shown(actor="…K7") and "Loueur" in shown(actor="share:7")
    assert "Loueur" in shown(channel="share_code") and "Camille" not in shown(channel="share_code")
    by_role = shown(role="police")
    assert "Gendarmerie" in by_role and "Loueur" not in by_role
    assert "appel du 3 mars" in shown(purpose="holder_request")
    today = timezone.localdate()
    assert "Camille" in shown(start=today.isoformat(), end=today.isoformat())
    nothing = auditor.get(URL, {"end": (today - dt.timedelta(days=1)).isoformat()}).content.decode()
    assert "Aucune entrée ne correspond à ces critères." in nothing
    unknown = auditor.get(URL, {"licence_number": "NOPE0000"}).content.decode()
    assert "Aucun permis ne porte ce numéro" in unknown


def test_bad_filters_name_the_field_and_answer_400() -> None:
    auditor = client_for(agent("auditor", ()))
    backwards = auditor.get(URL, {"start": "2026-03-02", "end": "2026-03-01"})
    assert backwards.status_code == 400
    html = backwards.content.decode()
    assert "La date de fin ne peut pas précéder la date de début." in html
    assert 'href="#id_end">Consultations jusqu’au (inclus)</a>' in html
    assert auditor.get(URL, {"role": "janitor"}).status_code == 400
    assert auditor.get(URL, {"start": "2026-02-30"}).status_code == 400
    assert auditor.get(URL, {"avant": "²"}).status_code == 400
    assert auditor.get(URL, {"apres": "1" * 30}).status_code == 400


def test_the_log_is_read_page_by_page() -> None:
    lic = file_in("75011")
    entries = [_read(lic, n) for n in range(PAGE_SIZE + 5)]
    auditor = client_for(agent("auditor", ()))
    first = auditor.get(URL, {"role": "agent"}).content.decode()
    assert _rows(first).count("<tr>") == PAGE_SIZE
    assert f"Agent n° {PAGE_SIZE + 4}," in first and "Agent n° 4," not in first
    older = f"?role=agent&amp;avant={entries[5].pk}"
    assert f'href="{older}"' in first and "Entrées plus récentes" not in first
    second = auditor.get(URL, {"role": "agent", "avant": entries[5].pk}).content.decode()
    assert _rows(second).count("<tr>") == 5 and "Agent n° 0," in second
    assert "Entrées plus anciennes" not in second
    assert f'href="?role=agent&amp;apres={entries[4].pk}"' in second
    back = auditor.get(URL, {"role": "agent", "apres": entries[4].pk}).content.decode()
    assert _rows(back).count("<tr>") == PAGE_SIZE and f"Agent n° {PAGE_SIZE + 4}," in back


def test_reading_the_log_is_recorded_once_per_page_never_per_row(caplog) -> None:
    lic = file_in("75011")
    for n in range(3):
        _read(lic, n)
    user = agent("auditor", (), login="cnil")
    auditor = client_for(user)
    before = AccessLog.objects.count()
    with caplog.at_level(logging.INFO, logger="permis.backoffice"):
        auditor.get(URL)
    assert AccessLog.objects.count() == before  # the whole log: no holder's file in particular
    assert "auditor cnil" in caplog.text and "3 entries shown" in caplog.text
    # Filtered on one licence: the auditor read who consulted that file; its holder sees it.
    auditor.get(URL, {"licence_number": lic.number})
    entry = AccessLog.objects.order_by("-pk").first()
    assert AccessLog.objects.count() == before + 1
    assert (entry.role, entry.purpose, entry.shown) == ("auditor", "audit", [JOURNAL_SHOWN])
    assert (entry.actor, entry.licence_id, entry.channel) == (f"user:{user.pk}", lic.pk, "back_office")
    assert audit.verify_chain() == []


def test_the_chain_heads_are_checked_on_the_spot() -> None:
    lic = file_in("75011")
    last = _read(lic, 1)
    auditor = client_for(agent("auditor", ()))
    assert "conforme" in auditor.get(URL).content.decode()
    # The head names an entry that is no longer there (the last entries deleted).
    ChainHead.objects.filter(chain=last.chain).update(seq=last.seq + 1)
    html = auditor.get(URL).content.decode()
    assert f"Chaîne {last.chain} : l’entrée n° {last.seq + 1} que nomme la tête de chaîne a disparu" in html
    # An entry appended behind the service's back.
    ChainHead.objects.filter(chain=last.chain).update(seq=last.seq - 1 if last.seq > 1 else 0)
    assert "ajoutées sans passer par le service" in auditor.get(URL).content.decode()


def test_the_last_full_verification_is_shown() -> None:
    from permis.backoffice.services import record_integrity_run

    record_integrity_run(
        started_at=timezone.now(),
        seconds=1.0,
        scope="all",
        licences=1,
        events=1,
        access_log_entries=12,
        discrepancies=1,
        details=["access log chain 3, entry #2: changed, its content no longer matches its hash"],
    )
    html = client_for(agent("auditor", ())).get(URL).content.decode()
    assert "(12 entrées vérifiées) : le journal a été modifié." in html
    assert "access log chain 3, entry #2: changed" in html
