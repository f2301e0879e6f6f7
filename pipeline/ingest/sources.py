"""Landed files: reading bytes (gzip and zip transparently), identity hashes, format sniffing."""

from __future__ import annotations

import gzip
import hashlib
import io
import mmap
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import fsspec

from pipeline.errors import UserError
from pipeline.ingest.threads import background

MAGIC_GZIP = b"\x1f\x8b"
MAGIC_ZIP = b"PK\x03\x04"
MAGIC_PARQUET = b"PAR1"


# A file's bytes: ``bytes``, or a read-only memory map of a plain local file (no copy: a
# reader that takes a buffer parses straight from the page cache, on all its threads).
Buffer = bytes | mmap.mmap


@dataclass(frozen=True)
class SourceFile:
    """One logical input: a file, or one member of a zip archive.

    ``buffer`` is what the fast readers parse (decoded CSV, Parquet, hashing); ``data`` is
    the same content as ``bytes`` for readers that need real bytes (a copy of a mapped file,
    made once). Hashing a day of AIS costs a tenth of a second or more, so a reader may have
    it done on a spare thread (``hash_in_background``) while the cores would otherwise idle;
    ``source_id`` waits for it, or hashes on the spot when nobody started it.
    """

    name: str  # what the user sees in summaries and quarantine: file name, or archive:member
    buffer: Buffer
    _digest: list[Future[str]] = field(default_factory=list, repr=False, compare=False)
    _bytes: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @property
    def data(self) -> bytes:
        if isinstance(self.buffer, bytes):
            return self.buffer
        if not self._bytes:
            self._bytes.append(self.buffer[:])
        return self._bytes[0]

    def hash_in_background(self) -> None:
        if not self._digest:
            self._digest.append(background(content_id, self.buffer))

    @property
    def source_id(self) -> str:
        """sha256 of the member's bytes, 16 hex: the row provenance in the lake."""
        if not self._digest:
            return content_id(self.buffer)
        return self._digest[0].result()


def content_id(data: Buffer) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _local_path(text: str) -> Path | None:
    """The path of a local file (plain path or file:// URL); None for remote URLs."""
    if text.startswith("file://"):
        return Path(text[len("file://"):])
    return None if "://" in text else Path(text)


def _map(path: Path) -> mmap.mmap | None:
    """A read-only map of a plain (not compressed) local file; None when mapping does not
    apply (empty, compressed, not a regular file). The map stays valid after the file is
    closed; a landed file is not rewritten in place while it is ingested."""
    try:
        with path.open("rb") as fh:
            if not path.is_file() or path.stat().st_size == 0:
                return None
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    if mapped[:4].startswith((MAGIC_GZIP, MAGIC_ZIP)):
        mapped.close()
        return None
    return mapped


def open_sources(path: str | Path) -> Iterator[SourceFile]:
    """Yield the logical inputs of one landed path, decompressed."""
    text = str(path)
    name = Path(text).name
    local = _local_path(text)
    mapped = _map(local) if local is not None else None
    if mapped is not None:
        yield SourceFile(name, mapped)
        return
    try:
        with fsspec.open(text, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError as exc:
        raise UserError(f"{text}: file not found; check the path") from exc
    except IsADirectoryError as exc:
        raise UserError(f"{text}: is a directory; pass the files inside it") from exc
    if raw.startswith(MAGIC_ZIP):
        try:
            archive = zipfile.ZipFile(io.BytesIO(raw))
        except zipfile.BadZipFile as exc:
            raise UserError(f"{text}: damaged zip archive ({exc}); re-fetch the file") from exc
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members:
            raise UserError(f"{text}: the zip archive holds no files")
        for member in members:
            data = _maybe_gunzip(archive.read(member), f"{name}:{member.filename}")
            yield SourceFile(f"{name}:{member.filename}", data)
        return
    data = _maybe_gunzip(raw, text)
    yield SourceFile(name, data)


def _maybe_gunzip(data: bytes, label: str) -> bytes:
    if not data.startswith(MAGIC_GZIP):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise UserError(f"{label}: damaged gzip data ({exc}); re-fetch the file") from exc


def first_line(data: Buffer, limit: int = 65536) -> str:
    head = data[:limit]
    line = head.split(b"\n", 1)[0]
    return line.decode("utf-8", errors="replace").lstrip("\ufeff").strip()


NMEA_SENTENCE = re.compile(rb"(^|[\\\s])[!$][A-Z]{2}VD[MO],|^\\[a-z]:|^\$PGHP,")


def looks_like_nmea(data: Buffer) -> bool:
    """True when the head of the file holds AIS sentences, also behind tag blocks or line
    numbers and among comment lines (gpsd captures are mostly commentary)."""
    return any(NMEA_SENTENCE.search(ln.strip()) for ln in data[:65536].splitlines()[:500])
