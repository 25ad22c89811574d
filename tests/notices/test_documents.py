"""The PDF documents: every letter's content, the attestation and the RII, tagged (PDF/UA-1), signed."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path

import pypdf
import pytest
import segno

from permis.notices import signing
from permis.notices.documents import render_attestation, render_letter, render_rii
from permis.notices.signing import Outcome
from permis.registry import services
from permis.registry.models import Category, Notice

from .document_helpers import licence_with, notice_for, record

pytestmark = pytest.mark.django_db

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "documents"

COMMON = [
    "Madame Camille Marie DUPONT",
    "12 rue des Lilas",
    "69003 LYON",
    "Vos droits de recours",
    "recours gracieux",
    "recours contentieux",
    "tribunal administratif",
    "deux mois",
    "Vérifier ce document",
    "/verifier/",
]
EXPECTED = {
    "48": [
        "Lettre 48",
        "1er mars 2024",
        "Date de valeur",
        "20 mars 2024",
        "Points retirés : 3",
        "Enregistrée au fichier national le",
        "Nouveau solde : 9",
    ],
    "48M": [
        "Lettre 48M",
        "Nouveau solde : 6",
        "stage de sensibilisation",
        "une fois par an",
        "R223-8",
        "LETTRE RECOMMANDÉE",  # its holder gets letters by post: a registered one (tests/notices/test_letter_48m.py)
    ],
    "48N": [
        "Lettre 48N",
        "dans un délai de 4 mois",
        "135 euros",
        "Nouveau solde : 3",
        "R223-4",
        "LETTRE RECOMMANDÉE",
    ],
    "48SI": [
        "Lettre 48SI",
        "Nouveau solde : 0",
        "Liste des retraits de points",
        "dans un délai de 10 jours",
        "six mois",
        "L223-5",
        "20 mai 2024",
        "juge des référés",
    ],
    "46": ["Lettre 46", "Points restitués", "Nouveau solde : 12", "L223-6"],
    "47": ["Lettre 47", "du 10 juin 2024 au 11 juin 2024", "Nouveau solde : 12", "R223-8"],
}


def text_of(pdf: bytes) -> str:
    """The text a person (or a screen reader) gets from the PDF, as pdftotext reads it."""
    result = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    )
    return " ".join(result.stdout.decode().split())


def to_png(pdf: bytes, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    source = ARTIFACTS / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(source), str(ARTIFACTS / name)],
        check=True,
        timeout=60,
    )
    pngs = sorted(ARTIFACTS.glob(f"{name}*.png"))
    assert pngs and pngs[0].stat().st_size > 5_000
    return pngs[0]


def assert_accessible_pdf(pdf: bytes, title_part: str) -> pypdf.PdfReader:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root, "the PDF is not tagged"
    assert root["/MarkInfo"]["/Marked"]
    assert str(root["/Lang"]).startswith("fr")
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfuaid:part="1"' in xmp or "<pdfuaid:part>1</pdfuaid:part>" in xmp
    assert title_part in reader.metadata.title
    return reader


@pytest.mark.parametrize("code", list(EXPECTED))
def test_every_letter_says_what_the_law_requires_and_is_signed(code: str) -> None:
    notice = notice_for(code)
    assert notice is not None, f"the history made no {code} due"
    pdf = render_letter(notice)
    text = text_of(pdf)
    for expected in COMMON + EXPECTED[code]:
        assert expected in text, f"{code}: {expected!r} missing from the letter"
    if code in ("48", "46", "47"):
        assert "LETTRE RECOMMANDÉE" not in text
    reader = assert_accessible_pdf(pdf, f"Lettre {code}")
    assert reader.pages  # pypdf reads the file despite the trailing signature line
    verdict = signing.verify_pdf(pdf, on=notice.due_on)
    assert verdict.outcome is Outcome.VALID, verdict.detail
    assert verdict.registry_checked
    assert verdict.payload["code"] == code and verdict.payload["licence"] == notice.licence.number
    to_png(pdf, f"letter-{code}")


def test_the_48si_lists_every_withdrawal() -> None:
    notice = notice_for("48SI")
    text = text_of(render_letter(notice))
    assert "20 mars 2024" in text and "20 mai 2024" in text
    assert text.count("Délit") >= 2


def test_one_changed_byte_anywhere_in_the_file_is_caught() -> None:
    notice = notice_for("48")
    pdf = render_letter(notice)
    assert signing.verify_pdf(pdf, on=notice.due_on).valid
    for position in (10, len(pdf) // 3, len(pdf) // 2, len(pdf) - 200):
        changed = bytearray(pdf)
        changed[position] = (changed[position] + 1) % 256
        assert signing.verify_pdf(bytes(changed), on=notice.due_on).outcome is Outcome.TAMPERED, position


def test_the_qr_text_is_in_the_metadata_and_verifies_alone() -> None:
    notice = notice_for("48M")
    pdf = render_letter(notice)
    text = signing.pdf_qr_text(pdf)
    assert text and text.startswith("PERMIS1.dev.")
    verdict = signing.verify(text, on=notice.due_on)
    assert verdict.valid and verdict.payload["balance"] == 6
    assert verdict.payload["final"] == "2024-03-20"
    # The QR code printed is that text: its image (one pixel per module) is the QR matrix of the text.
    images = [image.image for page in pypdf.PdfReader(io.BytesIO(pdf)).pages for image in page.images]
    qr = next(image.convert("1") for image in images if image.size[0] == image.size[1])
    modules = [[0 if qr.getpixel((x, y)) else 1 for x in range(qr.size[0])] for y in range(qr.size[1])]
    assert modules == [[1 if dark else 0 for dark in row] for row in segno.make(text, error="m").matrix]


def test_a_letter_whose_offence_was_cancelled_is_revoked() -> None:
    notice = notice_for("48")
    pdf = render_letter(notice)
    record(notice.licence, "offence_cancelled", {"offence": notice.cause, "on": "2024-04-10"}, "2024-04-11")
    verdict = signing.verify_pdf(pdf, on=dt.date(2024, 4, 12))
    assert verdict.outcome is Outcome.REVOKED
    assert "annulée" in str(verdict.message)
    # Offline, without the registry, the same file is only known to be genuine.
    offline = signing.verify_pdf(pdf, on=dt.date(2024, 4, 12), registry_lookup=False)
    assert offline.valid and not offline.registry_checked


def attestation_licence():
    lic = licence_with("48")
    Category.objects.create(
        licence=lic,
        code="C",
        obtained_on=dt.date(2015, 6, 1),
        expires_on=dt.date(2030, 6, 1),
        restrictions="01",
    )
    return lic


def test_the_attestation_shows_rights_and_never_points() -> None:
    lic = attestation_licence()
    on = dt.date(2024, 4, 1)
    pdf = render_attestation(lic, on)
    text = text_of(pdf)
    for expected in (
        "Attestation des droits à conduire",
        lic.number,
        "17 mai 1990",
        "Valide",
        "1er mars 2010",
        "1er juin 2030",
        "01",
        "valable jusqu’au 1er août 2024",
        "L223-7",
    ):
        assert expected in text, expected
    assert "solde" not in text.lower().replace("ne mentionne pas le nombre de points", "")
    assert "Nouveau solde" not in text and " 9 " not in f" {text} "
    assert_accessible_pdf(pdf, "Attestation")
    verdict = signing.verify_pdf(pdf, on=on)
    assert verdict.valid, verdict.detail
    assert "balance" not in verdict.payload
    assert not any("point" in label.lower() for label, _ in verdict.facts)
    assert signing.verify_pdf(pdf, on=dt.date(2024, 8, 1)).valid
    assert signing.verify_pdf(pdf, on=dt.date(2024, 8, 2)).outcome is Outcome.EXPIRED
    to_png(pdf, "attestation")


def test_an_attestation_is_revoked_when_the_licence_state_changes() -> None:
    lic = attestation_licence()
    pdf = render_attestation(lic, dt.date(2024, 4, 1))
    services.record_event(
        lic, "suspension", {"from": "2024-04-10", "to": "2024-05-10"}, source="agent", on=dt.date(2024, 4, 10)
    )
    verdict = signing.verify_pdf(pdf, on=dt.date(2024, 4, 20))
    assert verdict.outcome is Outcome.REVOKED, verdict.detail
    assert "Suspendu" in str(verdict.message)
    # After the suspension the licence is as it was: the attestation holds again (until it expires).
    assert signing.verify_pdf(pdf, on=dt.date(2024, 6, 1)).valid


def test_an_rii_of_fifty_entries_paginates_and_lists_everything() -> None:
    lic = licence_with("47")
    # One-point offences a year apart: each withdrawn then restored, every one a line of the record.
    for year in range(2010, 2024):
        record(
            lic,
            "offence",
            {"committed_on": f"{year}-04-01", "final_on": f"{year}-04-20", "points": 1, "class": "C3"},
            "2024-06-21",
        )
    on = dt.date(2024, 7, 1)
    pdf = render_rii(lic, on)
    text = text_of(pdf)
    verdict = signing.verify_pdf(pdf, on=on)
    assert verdict.valid, verdict.detail
    assert verdict.payload["entries"] >= 50
    reader = assert_accessible_pdf(pdf, "Relevé d’information intégral")
    assert len(reader.pages) >= 2
    for expected in (
        "Relevé d’information intégral",
        "Infractions (15)",
        "Mouvements de points",
        "Stages de sensibilisation (1)",
        "Lettres adressées",
        "Solde de points",
        "10/06/2024",
        "Page 2 sur",
    ):
        assert expected in text, expected
    to_png(pdf, "rii")


def test_letters_on_every_notice_of_a_licence_render() -> None:
    lic = licence_with("48SI")
    for notice in Notice.objects.filter(licence=lic):
        assert signing.verify_pdf(render_letter(notice), on=notice.due_on).valid


def test_an_offence_named_by_natinf_or_speeding_gets_its_label_code_and_article() -> None:
    lic = licence_with("48")
    record(
        lic,
        "offence",
        {"committed_on": "2024-05-01", "final_on": "2024-05-10", "natinf": "25386"},
        "2024-05-11",
    )
    record(
        lic,
        "offence",
        {
            "committed_on": "2024-06-01",
            "final_on": "2024-06-10",
            "speeding": {"limit_kmh": 80, "retained_kmh": 93},
        },
        "2024-06-11",
    )
    by_natinf = Notice.objects.get(licence=lic, due_on=dt.date(2024, 5, 10))
    text = text_of(render_letter(by_natinf))
    assert "Excès de vitesse de 5 à moins de 20 km/h" in text
    assert "Code NATINF 25386" in text and "R413-14" in text
    speeding = Notice.objects.get(licence=lic, due_on=dt.date(2024, 6, 10))
    text = text_of(render_letter(speeding))
    assert "Nature" in text and "Excès de vitesse" in text
