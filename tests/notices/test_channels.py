"""The channels: phone numbers, SMS length, the SMS backends (file, HTTP against a stub provider), the print
queue, and the SMTP test server itself."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import smtplib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.utils import translation
from pypdf import PdfWriter

from permis.notices.channels import PermanentFailure, TemporaryFailure
from permis.notices.channels.post import COLUMNS, PrintQueue, ReferenceConflict
from permis.notices.channels.sms import (
    FileSmsBackend,
    HttpSmsBackend,
    SmsBackend,
    SmsMessage,
    SmsTextTooLong,
    check_sms_text,
    get_sms_backend,
    is_mobile,
    normalise_phone,
    sms_length,
)

# --- Phone numbers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("06-12-34-56-78", "+33612345678"),
        ("06\u00a012\u00a034\u00a056\u00a078", "+33612345678"),
        ("  07 81 23 45 67 ", "+33781234567"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+33612345678", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("0033 6 12 34 56 78", "+33612345678"),
        ("01 45 67 89 00", "+33145678900"),
        ("09 72 12 34 56", "+33972123456"),
        ("06 90 12 34 56", "+590690123456"),  # Guadeloupe
        ("05 90 12 34 56", "+590590123456"),
        ("+590 690 12 34 56", "+590690123456"),
        ("06 96 12 34 56", "+596696123456"),  # Martinique
        ("06 94 12 34 56", "+594694123456"),  # Guyane
        ("06 92 12 34 56", "+262692123456"),  # La Réunion
        ("02 62 12 34 56", "+262262123456"),
        ("06 39 12 34 56", "+262639123456"),  # Mayotte
        ("+262 639 12 34 56", "+262639123456"),
    ],
)
def test_it_writes_french_numbers_in_e164(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "vide"),
        ("   ", "vide"),
        ("06 12 34 56 7", "9 chiffres"),
        ("06 12 34 56 789", "11 chiffres"),
        ("6 12 34 56 78", "doit commencer par 0"),
        ("33612345678", "doit commencer par 0"),
        ("06 12 34 56 7A", "d’autres caractères"),
        ("tel: 0612345678", "d’autres caractères"),
        ("+44 20 7946 0958", "pas un numéro français"),
        ("+1 202 555 0100", "pas un numéro français"),
        ("+33 6 12 34 56", "9"),
        ("08 00 12 34 56", "numéro de service"),
        ("00 12 34 56 78", "pas un numéro français"),
        ("+33 0 12 34 56 78", "n’existe pas"),
        ("+33 6 90 12 34 56", "Guadeloupe"),  # an overseas number under the metropolitan code
        ("+590 6 12 34 56 78", "France métropolitaine"),
    ],
)
def test_it_refuses_what_is_not_a_french_number_and_says_why(raw, why):
    with pytest.raises(ValueError, match=why):
        normalise_phone(raw)


def test_the_reason_is_given_in_the_holder_s_language():
    with (
        translation.override("en"),
        pytest.raises(ValueError, match="is a number of Guadeloupe: its country code"),
    ):
        normalise_phone("+33 6 90 12 34 56")


def test_it_tells_mobiles_from_fixed_lines():
    assert is_mobile(normalise_phone("06 12 34 56 78"))
    assert is_mobile(normalise_phone("07 81 23 45 67"))
    assert is_mobile(normalise_phone("06 92 12 34 56"))
    assert not is_mobile(normalise_phone("01 45 67 89 00"))
    assert not is_mobile(normalise_phone("05 90 12 34 56"))


# --- SMS length --------------------------------------------------------------------------------------------------


def test_a_gsm7_text_holds_160_characters():
    assert sms_length("a" * 160).encoding == "GSM-7"
    assert check_sms_text("a" * 160)
    with pytest.raises(SmsTextTooLong, match=r"161 GSM-7 characters.*at most 160"):
        check_sms_text("a" * 161)


def test_french_accents_of_the_gsm_alphabet_stay_gsm7():
    text = "Un courrier vous attend : référence 48, lettre à consulter où vous voulez, déjà disponible."
    assert sms_length(text).encoding == "GSM-7"


def test_the_extension_table_counts_twice():
    assert sms_length("€").units == 2
    check_sms_text("€" * 80)
    with pytest.raises(SmsTextTooLong):
        check_sms_text("€" * 80 + "a")


def test_one_character_outside_gsm7_makes_the_text_ucs2_with_70_characters():
    assert sms_length("être").encoding == "UCS-2"
    check_sms_text("ê" * 70)
    with pytest.raises(SmsTextTooLong, match=r"71 UCS-2 characters \(UCS-2 because of 'ê'.*at most 70"):
        check_sms_text("ê" * 71)


def test_characters_beyond_the_basic_plane_count_as_two_ucs2_units():
    assert sms_length("🚗").units == 2


def test_a_message_checks_its_recipient_text_and_reference():
    SmsMessage(to="+33612345678", text="Bonjour", reference="delivery-1")
    with pytest.raises(ValueError, match=r"E\.164"):
        SmsMessage(to="06 12 34 56 78", text="Bonjour", reference="delivery-1")
    with pytest.raises(ValueError, match="empty"):
        SmsMessage(to="+33612345678", text="  ", reference="delivery-1")
    with pytest.raises(SmsTextTooLong):
        SmsMessage(to="+33612345678", text="x" * 161, reference="delivery-1")
    with pytest.raises(ValueError, match="reference"):
        SmsMessage(to="+33612345678", text="Bonjour", reference="../etc/passwd")


# --- Choosing a backend ----------------------------------------------------------------------------------------


def test_the_backend_follows_the_settings(settings, tmp_path):
    settings.SMS_BACKEND = "file"
    settings.SMS_DIR = tmp_path
    backend = get_sms_backend()
    assert isinstance(backend, FileSmsBackend) and isinstance(backend, SmsBackend)
    settings.SMS_BACKEND = "http"
    settings.SMS_URL = "https://sms.example/v1/messages"
    settings.SMS_TOKEN = "secret"
    assert isinstance(get_sms_backend(), HttpSmsBackend)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SMS_BACKEND": "carrier-pigeon"}, "PERMIS_SMS_BACKEND='carrier-pigeon'"),
        ({"SMS_BACKEND": "http", "SMS_URL": "", "SMS_TOKEN": "t"}, "PERMIS_SMS_URL"),
        ({"SMS_BACKEND": "http", "SMS_URL": "https://sms.example/", "SMS_TOKEN": ""}, "PERMIS_SMS_TOKEN"),
        ({"SMS_BACKEND": "http", "SMS_URL": "ftp://sms.example/", "SMS_TOKEN": "t"}, "PERMIS_SMS_URL"),
        ({"SMS_BACKEND": "http", "SMS_URL": "https://u:p@sms.example/", "SMS_TOKEN": "t"}, "PERMIS_SMS_URL"),
    ],
)
def test_a_wrong_configuration_names_the_variable(settings, overrides, named):
    for name, value in overrides.items():
        setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=named.replace("(", r"\(")):
        get_sms_backend()


# --- File backend ----------------------------------------------------------------------------------------------


def test_the_file_backend_writes_one_json_file_per_message(tmp_path):
    backend = FileSmsBackend(tmp_path / "sms", sender="PERMIS")
    message = SmsMessage(to="+33612345678", text="Un courrier vous attend.", reference="delivery-7")
    assert backend.send(message) == "file-delivery-7"
    written = json.loads((tmp_path / "sms" / "delivery-7.json").read_text(encoding="utf-8"))
    assert written["to"] == "+33612345678"
    assert written["text"] == "Un courrier vous attend."
    assert written["sender"] == "PERMIS"
    assert written["reference"] == "delivery-7"
    assert [path.name for path in (tmp_path / "sms").iterdir()] == ["delivery-7.json"]  # no temporary left


def test_the_file_backend_is_idempotent_on_the_reference(tmp_path):
    backend = FileSmsBackend(tmp_path)
    message = SmsMessage(to="+33612345678", text="Un courrier vous attend.", reference="delivery-7")
    first = backend.send(message)
    before = (tmp_path / "delivery-7.json").read_bytes()
    assert backend.send(message) == first
    assert (tmp_path / "delivery-7.json").read_bytes() == before
    other = SmsMessage(to="+33700000000", text="Autre chose.", reference="delivery-7")
    with pytest.raises(PermanentFailure, match="already used for another message"):
        backend.send(other)


def test_the_file_backend_writes_once_when_threads_race(tmp_path):
    backend = FileSmsBackend(tmp_path)
    message = SmsMessage(to="+33612345678", text="Bonjour", reference="delivery-9")
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: backend.send(message), range(16)))
    assert ids == {"file-delivery-9"}
    assert [path.name for path in tmp_path.iterdir()] == ["delivery-9.json"]


def test_the_file_backend_reports_a_folder_it_cannot_write_as_temporary(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    backend = FileSmsBackend(blocker / "sms")
    with pytest.raises(TemporaryFailure, match="cannot write"):
        backend.send(SmsMessage(to="+33612345678", text="Bonjour", reference="delivery-1"))


# --- HTTP backend against the stub provider --------------------------------------------------------------------


def _message(reference: str = "delivery-42") -> SmsMessage:
    return SmsMessage(
        to="+33612345678", text="Un courrier vous attend sur permis.example.", reference=reference
    )


def test_the_http_backend_posts_the_message_and_returns_the_provider_id(sms_stub, settings):
    backend = get_sms_backend()
    assert backend.send(_message()) == "stub-1"
    (request,) = sms_stub.requests
    assert request.path == "/messages"
    assert request.headers["Authorization"] == f"Bearer {sms_stub.token}"
    assert request.headers["Idempotency-Key"] == "delivery-42"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json() == {
        "to": "+33612345678",
        "text": "Un courrier vous attend sur permis.example.",
        "sender": settings.SMS_SENDER,
        "reference": "delivery-42",
    }


def test_a_retry_with_the_same_reference_sends_one_sms(sms_stub):
    backend = get_sms_backend()
    assert backend.send(_message()) == backend.send(_message())
    assert len(sms_stub.requests) == 2
    assert len(sms_stub.sent) == 1


def test_a_503_is_a_temporary_failure_and_the_next_attempt_succeeds(sms_stub):
    backend = get_sms_backend()
    sms_stub.fail_next(1, status=503, retry_after="30")
    with pytest.raises(TemporaryFailure, match="answered 503 Service Unavailable") as failure:
        backend.send(_message())
    assert failure.value.retry_after == 30.0
    assert backend.send(_message()) == "stub-1"


def test_a_429_is_a_temporary_failure(sms_stub):
    sms_stub.fail_next(1, status=429, body='{"error": "rate limit: 10 per second"}')
    with pytest.raises(TemporaryFailure, match=r"429 Too Many Requests.*rate limit: 10 per second"):
        get_sms_backend().send(_message())


def test_a_400_is_a_permanent_failure_quoting_the_provider(sms_stub):
    sms_stub.fail_next(1, status=400, body='{"error": "invalid number +33612345678"}')
    with pytest.raises(PermanentFailure, match=r"400 Bad Request: \{\"error\": \"invalid number"):
        get_sms_backend().send(_message())


def test_a_wrong_token_is_a_permanent_failure_that_does_not_show_the_token(sms_stub, settings):
    settings.SMS_TOKEN = "the-wrong-token-1234"
    with pytest.raises(PermanentFailure, match="401") as failure:
        get_sms_backend().send(_message())
    assert "the-wrong-token-1234" not in str(failure.value)
    assert sms_stub.sent == []


def test_the_token_never_appears_in_an_error_even_when_the_provider_echoes_it(sms_stub):
    sms_stub.fail_next(1, status=500, body=f"internal error while checking Bearer {sms_stub.token}")
    with pytest.raises(TemporaryFailure) as failure:
        get_sms_backend().send(_message())
    assert sms_stub.token not in str(failure.value)
    assert "Bearer ***" in str(failure.value)


def test_a_provider_that_does_not_answer_in_time_is_a_temporary_failure(sms_stub):
    sms_stub.hang_next(1, seconds=5)
    backend = HttpSmsBackend(sms_stub.url, token=sms_stub.token, timeout=0.3)
    with pytest.raises(TemporaryFailure, match=r"did not answer within 0.3 s"):
        backend.send(_message())


def test_a_provider_that_cannot_be_reached_is_a_temporary_failure():
    with socket.socket() as sock:  # a port that nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = HttpSmsBackend(f"http://127.0.0.1:{port}/messages", token="t", timeout=1)
    with pytest.raises(TemporaryFailure, match="could not be reached"):
        backend.send(_message())


def test_a_success_without_an_id_is_a_temporary_failure(sms_stub):
    sms_stub.fail_next(1, status=200, body='{"status": "queued"}')
    with pytest.raises(TemporaryFailure, match="without a message id"):
        get_sms_backend().send(_message())


def test_a_redirect_is_a_permanent_failure(sms_stub):
    sms_stub.fail_next(1, status=301, body="moved")
    with pytest.raises(PermanentFailure, match="check PERMIS_SMS_URL"):
        get_sms_backend().send(_message())


# --- Print queue -------------------------------------------------------------------------------------------------


def _pdf(pages: int = 1, marker: str = "") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if marker:
        writer.add_metadata({"/Title": marker})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


ADDRESS = ["Madame Camille Martin", "Appartement 12", "3 rue des Lilas", "75011 PARIS"]
DAY = date(2026, 11, 23)


def test_a_letter_goes_to_the_day_folder_with_its_manifest_line(tmp_path):
    queue = PrintQueue(tmp_path)
    pdf = _pdf(pages=2)
    path = queue.add(
        day=DAY, reference="delivery-1", pdf=pdf, recipient=ADDRESS, registered=True, code="48SI"
    )
    assert path == tmp_path / "2026-11-23" / "delivery-1.pdf"
    assert path.read_bytes() == pdf
    (entry,) = queue.manifest(DAY)
    assert entry.reference == "delivery-1"
    assert entry.code == "48SI"
    assert entry.registered is True
    assert entry.recipient == tuple(ADDRESS)
    assert entry.pages == 2
    assert entry.bytes == len(pdf)
    assert len(entry.sha256) == 64
    assert entry.added_at.tzinfo is not None
    assert queue.days() == [DAY]
    # The file itself, as the print partner reads it.
    with (tmp_path / "2026-11-23" / "manifest.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0] == COLUMNS
    assert rows[1][:8] == ["delivery-1", "48SI", "1", *ADDRESS, ""][:8]
    assert sorted(p.name for p in (tmp_path / "2026-11-23").iterdir() if not p.name.startswith(".")) == [
        "delivery-1.pdf",
        "manifest.csv",
    ]


def test_the_queue_root_comes_from_the_settings(settings, tmp_path):
    settings.PRINT_QUEUE_DIR = tmp_path / "print"
    assert PrintQueue().root == tmp_path / "print"


def test_adding_the_same_letter_again_changes_nothing(tmp_path):
    queue = PrintQueue(tmp_path)
    pdf = _pdf()
    first = queue.add(
        day=DAY, reference="delivery-1", pdf=pdf, recipient=ADDRESS, registered=False, code="48"
    )
    again = queue.add(
        day=DAY, reference="delivery-1", pdf=pdf, recipient=ADDRESS, registered=False, code="48"
    )
    assert again == first
    assert len(queue.manifest(DAY)) == 1


def test_a_retry_on_the_next_day_is_not_printed_twice(tmp_path):
    queue = PrintQueue(tmp_path)
    pdf = _pdf()
    first = queue.add(
        day=DAY, reference="delivery-1", pdf=pdf, recipient=ADDRESS, registered=False, code="48"
    )
    later = queue.add(
        day=date(2026, 11, 24),
        reference="delivery-1",
        pdf=pdf,
        recipient=ADDRESS,
        registered=False,
        code="48",
    )
    assert later == first
    assert queue.days() == [DAY]


def test_another_pdf_under_a_queued_reference_is_refused(tmp_path):
    queue = PrintQueue(tmp_path)
    queue.add(day=DAY, reference="delivery-1", pdf=_pdf(), recipient=ADDRESS, registered=False, code="48")
    with pytest.raises(
        ReferenceConflict, match="delivery-1 is already queued in 2026-11-23 with a different PDF"
    ):
        queue.add(
            day=DAY, reference="delivery-1", pdf=_pdf(2), recipient=ADDRESS, registered=False, code="48"
        )
    assert isinstance(ReferenceConflict("x"), PermanentFailure)
    assert len(queue.manifest(DAY)) == 1


def test_a_letter_whose_manifest_line_was_lost_gets_it_back(tmp_path):
    """A worker that died between writing the PDF and its manifest line: the retry adds the line only."""
    queue = PrintQueue(tmp_path)
    pdf = _pdf()
    (tmp_path / "2026-11-23").mkdir()
    (tmp_path / "2026-11-23" / "delivery-1.pdf").write_bytes(pdf)
    queue.add(day=DAY, reference="delivery-1", pdf=pdf, recipient=ADDRESS, registered=False, code="48")
    assert [entry.reference for entry in queue.manifest(DAY)] == ["delivery-1"]


@pytest.mark.parametrize("reference", ["../escape", "a/b", "", ".hidden", "with space", "x" * 101, "é"])
def test_a_reference_that_is_not_a_safe_file_name_is_refused(tmp_path, reference):
    with pytest.raises(ValueError, match="reference"):
        PrintQueue(tmp_path).add(
            day=DAY, reference=reference, pdf=_pdf(), recipient=ADDRESS, registered=False, code="48"
        )
    assert not any(tmp_path.rglob("*.pdf"))


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"recipient": []}, "non-empty list"),
        ({"recipient": "3 rue des Lilas"}, "non-empty list"),
        ({"recipient": ["a"] * 8}, "8 address lines"),
        ({"recipient": ["Madame Martin", " "]}, "address line 2 is empty"),
        ({"recipient": ["Madame Martin\n3 rue des Lilas"]}, "line break"),
        ({"pdf": b"<html>"}, "not a PDF"),
        ({"code": "48/SI"}, "not a letter code"),
    ],
)
def test_wrong_letters_are_refused_with_the_reason(tmp_path, changes, why):
    arguments = {"day": DAY, "reference": "delivery-1", "pdf": _pdf(), "recipient": ADDRESS}
    arguments |= {"registered": False, "code": "48"} | changes
    with pytest.raises(ValueError, match=why):
        PrintQueue(tmp_path).add(**arguments)


def test_an_empty_queue_has_no_days_and_no_manifest(tmp_path):
    queue = PrintQueue(tmp_path / "absent")
    assert queue.days() == []
    assert queue.manifest(DAY) == []
    (tmp_path / "absent").mkdir()
    (tmp_path / "absent" / "partner-notes").mkdir()
    assert queue.days() == []


def _add_many(root: str, worker: int, count: int) -> None:
    """Add ``count`` letters, half of them shared with every other worker (same reference, same PDF)."""
    queue = PrintQueue(Path(root))
    shared = _pdf(marker="shared")
    for number in range(count):
        if number % 2:
            queue.add(
                day=DAY,
                reference=f"shared-{number}",
                pdf=shared,
                recipient=ADDRESS,
                registered=False,
                code="48",
            )
        else:
            queue.add(
                day=DAY,
                reference=f"w{worker}-{number}",
                pdf=_pdf(marker=f"{worker}-{number}"),
                recipient=[f"Titulaire {worker}-{number}", "1 rue du Test", "75001 PARIS"],
                registered=bool(number % 4 == 0),
                code="48N",
            )


def _assert_consistent(queue: PrintQueue, workers: int, count: int) -> None:
    entries = queue.manifest(DAY)
    references = [entry.reference for entry in entries]
    expected = {f"w{w}-{n}" for w in range(workers) for n in range(0, count, 2)} | {
        f"shared-{n}" for n in range(1, count, 2)
    }
    assert len(references) == len(set(references)), "a reference appears twice in the manifest"
    assert set(references) == expected
    folder = queue.folder(DAY)
    assert {path.stem for path in folder.glob("*.pdf")} == expected
    assert not list(folder.glob(".*.tmp"))
    text = (folder / "manifest.csv").read_text(encoding="utf-8")
    assert text.count("reference,code,registered") == 1  # one header
    for entry in entries:
        assert entry.sha256 == hashlib.sha256((folder / f"{entry.reference}.pdf").read_bytes()).hexdigest()


def test_threads_adding_at_once_give_a_consistent_manifest(tmp_path):
    workers, count = 6, 20
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda worker: _add_many(str(tmp_path), worker, count), range(workers)))
    _assert_consistent(PrintQueue(tmp_path), workers, count)


def test_processes_adding_at_once_give_a_consistent_manifest(tmp_path):
    workers, count = 4, 20
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_add_many, args=(str(tmp_path), w, count)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * workers
    _assert_consistent(PrintQueue(tmp_path), workers, count)


# --- The SMTP test server ----------------------------------------------------------------------------------------


def test_send_mail_reaches_the_smtp_server(smtp_server):
    sent = send_mail("Objet é", "Un courrier vous attend.", "permis@permis.example", ["camille@example.org"])
    assert sent == 1
    (received,) = smtp_server.wait_for(1)
    assert received.mail_from == "permis@permis.example"
    assert received.rcpt_tos == ("camille@example.org",)
    assert received.subject == "Objet é"
    assert received.text().strip() == "Un courrier vous attend."


def test_the_smtp_server_refuses_the_next_messages_when_told(smtp_server):
    smtp_server.refuse_next(2)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refusal:
            send_mail("Objet", "Texte", "permis@permis.example", ["camille@example.org"])
        assert refusal.value.recipients["camille@example.org"][0] == 451
    assert send_mail("Objet", "Texte", "permis@permis.example", ["camille@example.org"]) == 1
    assert len(smtp_server.wait_for(1)) == 1
    assert smtp_server.refused == 2


def test_the_smtp_server_can_refuse_at_data(smtp_server):
    smtp_server.refuse_next(1, code=452, at="data")
    with pytest.raises(smtplib.SMTPDataError) as refusal:
        send_mail("Objet", "Texte", "permis@permis.example", ["camille@example.org"])
    assert refusal.value.smtp_code == 452
    assert send_mail("Objet", "Texte", "permis@permis.example", ["camille@example.org"]) == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_the_smtp_server_takes_messages_from_several_threads(smtp_server):
    def send(number: int) -> int:
        return send_mail(f"Objet {number}", "Texte", "permis@permis.example", [f"t{number}@example.org"])

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(send, range(20))) == 20
    assert {message.subject for message in smtp_server.wait_for(20)} == {f"Objet {n}" for n in range(20)}


def test_the_servers_stop_cleanly():
    from tests.notices.servers import SmsStub, SmtpServer

    before = threading.active_count()
    with SmtpServer() as smtp, SmsStub() as stub:
        smtp_port, stub_port = smtp.port, stub.port
        stub.hang_next(1, seconds=30)
        backend = HttpSmsBackend(stub.url, token=stub.token, timeout=0.2)
        with pytest.raises(TemporaryFailure):
            backend.send(_message())
    for port in (smtp_port, stub_port):
        with socket.socket() as sock:
            sock.settimeout(1)
            with pytest.raises(ConnectionRefusedError):
                sock.connect(("127.0.0.1", port))
    # The stub's handler that was hanging is released at stop; nothing is left running.
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_only_folders_named_like_a_day_are_days(tmp_path):
    queue = PrintQueue(tmp_path)
    queue.add(day=DAY, reference="delivery-1", pdf=_pdf(), recipient=ADDRESS, registered=False, code="48")
    for name in ("20261124", "2026-02-30", "2026-11-25.old", "archive"):
        (tmp_path / name).mkdir()
    assert queue.days() == [DAY]


def test_the_manifest_can_be_read_while_letters_are_added(tmp_path):
    queue = PrintQueue(tmp_path)
    stop = threading.Event()
    counts: list[int] = []

    def read() -> None:
        while not stop.is_set():
            counts.append(len(queue.manifest(DAY)))  # parses every line: a half-written one would fail

    reader = threading.Thread(target=read)
    reader.start()
    try:
        _add_many(str(tmp_path), 0, 30)
    finally:
        stop.set()
        reader.join()
    assert counts == sorted(counts)
    assert len(queue.manifest(DAY)) == 30


def test_an_smtp_server_that_keeps_nothing_still_counts():
    from django.core.mail import get_connection

    from tests.notices.servers import SmtpServer

    with SmtpServer(keep=False) as server:
        connection = get_connection(
            "django.core.mail.backends.smtp.EmailBackend", host=server.host, port=server.port, timeout=5
        )
        with connection:
            for number in range(5):
                send_mail(
                    "Objet",
                    "Texte",
                    "permis@permis.example",
                    [f"t{number}@example.org"],
                    connection=connection,
                )
        server.wait_for(5)
        assert server.count == 5
        assert server.messages == []
