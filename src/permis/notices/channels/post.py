"""Post: letters as PDFs in a print queue that the print partner collects.

Layout under the queue's root (``settings.PRINT_QUEUE_DIR``, ``PERMIS_PRINT_QUEUE_DIR``)::

    <root>/<YYYY-MM-DD>/<reference>.pdf      one letter, ready to print
    <root>/<YYYY-MM-DD>/manifest.csv         one line per letter of that day
    <root>/<YYYY-MM-DD>/.lock                the manifest's lock (ignore it)
    <root>/<YYYY-MM-DD>/.*.tmp               a letter being written (ignore it)

``manifest.csv`` is UTF-8 CSV (RFC 4180, comma, double quotes) with a header line and these columns:

- ``reference``: our reference of the delivery, also the PDF's file name without ``.pdf``;
- ``code``: the letter's code (48, 48M, 48N, 48SI, 46, 47, ...);
- ``registered``: ``1`` for a registered letter with acknowledgement of receipt (lettre recommandée avec
  avis de réception), ``0`` for an ordinary letter;
- ``recipient_1`` … ``recipient_7``: the address block, one line per column as printed (AFNOR NF Z10-011: at
  most 6 lines in France, a 7th for the country); unused columns are empty;
- ``sha256``: the PDF's SHA-256 in hexadecimal, so the partner can check the file it prints;
- ``pages``: the PDF's number of pages (for the envelope and the postage);
- ``bytes``: the PDF's size;
- ``added_at``: when the letter entered the queue, UTC, ISO 8601.

Guarantees: a PDF is written to a temporary file, flushed to disk, then linked to its final name, so the
partner never sees half a letter; its manifest line is appended after, under an exclusive ``flock`` of the day's
``.lock``, so workers in several processes can add at once without losing or mixing lines. Adding a reference
that is already in the queue (any day) with the same PDF does nothing and returns the existing path (a retried
delivery is not printed twice); with a different PDF it raises ``ReferenceConflict``. A day's folder is
complete once that day is over: the partner collects the folders of past days.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from django.conf import settings

from permis.notices.channels.errors import PermanentFailure
from permis.notices.channels.references import check_reference

MANIFEST = "manifest.csv"
LOCK = ".lock"
RECIPIENT_LINES = 7
DAY_FOLDER = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
COLUMNS = [
    "reference",
    "code",
    "registered",
    *(f"recipient_{number}" for number in range(1, RECIPIENT_LINES + 1)),
    "sha256",
    "pages",
    "bytes",
    "added_at",
]


class ReferenceConflict(PermanentFailure):
    """A reference already in the print queue with a different PDF: a reference is one letter, printed once."""


@dataclass(frozen=True)
class ManifestEntry:
    """One line of a day's manifest."""

    reference: str
    code: str
    registered: bool
    recipient: tuple[str, ...]
    sha256: str
    pages: int | None
    bytes: int
    added_at: datetime

    def row(self) -> list[str]:
        lines = list(self.recipient) + [""] * (RECIPIENT_LINES - len(self.recipient))
        return [
            self.reference,
            self.code,
            "1" if self.registered else "0",
            *lines,
            self.sha256,
            "" if self.pages is None else str(self.pages),
            str(self.bytes),
            self.added_at.isoformat(timespec="seconds"),
        ]

    @classmethod
    def from_row(cls, row: dict[str, str]) -> ManifestEntry:
        recipient = tuple(row[f"recipient_{n}"] for n in range(1, RECIPIENT_LINES + 1))
        while recipient and not recipient[-1]:
            recipient = recipient[:-1]
        return cls(
            reference=row["reference"],
            code=row["code"],
            registered=row["registered"] == "1",
            recipient=recipient,
            sha256=row["sha256"],
            pages=int(row["pages"]) if row["pages"] else None,
            bytes=int(row["bytes"]),
            added_at=datetime.fromisoformat(row["added_at"]),
        )


class PrintQueue:
    """The folder the print partner collects letters from (see the module's docstring for the layout)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root if root is not None else settings.PRINT_QUEUE_DIR)

    # --- Adding ------------------------------------------------------------------------------------------------

    def add(
        self,
        *,
        day: date,
        reference: str,
        pdf: bytes,
        recipient: list[str],
        registered: bool,
        code: str,
    ) -> Path:
        """Put one letter in ``day``'s folder and its line in that day's manifest; return the PDF's path.

        Idempotent on ``reference``: when the same PDF is already queued (on any day), return its path and add
        nothing. ``ReferenceConflict`` when the reference is queued with another PDF; ``ValueError`` when an
        argument is wrong (the reference, an empty or multi-line address line, more than 7 lines, not a PDF).
        """
        check_reference(reference)
        lines = _check_recipient(reference, recipient)
        if not isinstance(code, str) or not code.isalnum() or len(code) > 8:
            raise ValueError(
                f"print queue, letter {reference}: code {code!r} is not a letter code such as 48SI"
            )
        if not isinstance(pdf, bytes | bytearray) or not pdf.startswith(b"%PDF-"):
            raise ValueError(f"print queue, letter {reference}: the document is not a PDF (no %PDF- header)")
        pdf = bytes(pdf)
        sha256 = hashlib.sha256(pdf).hexdigest()

        existing = self.find(reference)
        if existing is not None and existing.parent.name != day.isoformat():
            return self._same_or_conflict(existing, reference, sha256)

        folder = self.folder(day)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{reference}.pdf"
        entry = ManifestEntry(
            reference=reference,
            code=code,
            registered=bool(registered),
            recipient=lines,
            sha256=sha256,
            pages=_pages(pdf),
            bytes=len(pdf),
            added_at=datetime.now(UTC),
        )
        with self._locked(folder):
            if target.exists():
                self._same_or_conflict(target, reference, sha256)
                # Same letter: a worker may have died between writing the PDF and its manifest line.
                if not any(line.reference == reference for line in _read_manifest(folder)):  # locked already
                    self._append(folder, entry)
                return target
            _write_atomically(target, pdf)
            self._append(folder, entry)
        return target

    def _same_or_conflict(self, existing: Path, reference: str, sha256: str) -> Path:
        if _sha256_of(existing) != sha256:
            raise ReferenceConflict(
                f"print queue: letter {reference} is already queued in {existing.parent.name} with a different "
                f"PDF ({existing}); a reference is one letter, printed once"
            )
        return existing

    def _append(self, folder: Path, entry: ManifestEntry) -> None:
        path = folder / MANIFEST
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        fresh = not path.exists() or path.stat().st_size == 0
        if fresh:
            writer.writerow(COLUMNS)
        writer.writerow(entry.row())
        # One write of whole lines, in append mode, then fsync: a reader never sees half a line of a finished
        # write, and the line survives a crash once add() has returned.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, buffer.getvalue().encode("utf-8"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if fresh:
            _fsync_directory(folder)

    @contextmanager
    def _locked(self, folder: Path, *, shared: bool = False) -> Iterator[None]:
        """A lock on the day's manifest, between threads and processes alike (flock locks an open file
        description, so two opens in one process exclude each other too): exclusive to write, shared to read."""
        descriptor = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    # --- Reading ---------------------------------------------------------------------------------------------

    def folder(self, day: date) -> Path:
        return self.root / day.isoformat()

    def days(self) -> list[date]:
        """The days that have a folder in the queue, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for child in self.root.iterdir():
            if not child.is_dir():
                continue
            if not DAY_FOLDER.fullmatch(child.name):
                continue  # not a day's folder (the partner may keep its own things here)
            try:
                found.append(date.fromisoformat(child.name))
            except ValueError:
                continue  # 2026-02-30 and the like
        return sorted(found)

    def manifest(self, day: date) -> list[ManifestEntry]:
        """The lines of ``day``'s manifest, in the order they were added (empty when there is none)."""
        folder = self.folder(day)
        if not (folder / MANIFEST).exists():
            return []
        try:
            with self._locked(folder, shared=True):  # never half of a line being appended
                return _read_manifest(folder)
        except PermissionError:  # a reader without write access to the folder (cannot open the lock)
            return _read_manifest(folder)

    def find(self, reference: str) -> Path | None:
        """The queued PDF of ``reference``, on whichever day it was added, or None."""
        check_reference(reference)
        for day in reversed(self.days()):
            path = self.folder(day) / f"{reference}.pdf"
            if path.exists():
                return path
        return None


def _read_manifest(folder: Path) -> list[ManifestEntry]:
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [ManifestEntry.from_row(row) for row in csv.DictReader(io.StringIO(text, newline=""))]


def _check_recipient(reference: str, recipient: list[str]) -> tuple[str, ...]:
    if isinstance(recipient, str) or not recipient:
        raise ValueError(
            f"print queue, letter {reference}: recipient must be a non-empty list of address lines"
        )
    lines = tuple(recipient)
    if len(lines) > RECIPIENT_LINES:
        raise ValueError(
            f"print queue, letter {reference}: {len(lines)} address lines, a postal address has at most "
            f"{RECIPIENT_LINES} (NF Z10-011)"
        )
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str) or not line.strip():
            raise ValueError(f"print queue, letter {reference}: address line {number} is empty")
        if any(ord(char) < 32 or ord(char) == 127 for char in line):
            raise ValueError(
                f"print queue, letter {reference}: address line {number} ({line!r}) contains a line break or "
                "a control character; give one list item per line"
            )
    return lines


def _pages(pdf: bytes) -> int | None:
    """The PDF's number of pages, or None when pypdf cannot tell (the letter still goes to print)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        return len(PdfReader(io.BytesIO(pdf)).pages)
    except (PyPdfError, ValueError, KeyError, TypeError):
        return None


def _sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_atomically(target: Path, content: bytes) -> None:
    """Write ``content`` to ``target`` so that it is either absent or complete, and durable once returned."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
