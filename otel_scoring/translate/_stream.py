"""A trace file read one request at a time, so memory holds the largest request, never the file.

A Collector file export is JSON lines, one request per line, and can be far larger than memory
(parsed JSON costs about ten times its text). Such a file is read a line at a time, and each line
translated as :func:`records_from_document` translates a document. Any other file (a single JSON
document, possibly pretty-printed; OTLP protobuf) is one request, read whole.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Iterator

from otel_scoring.translate._readers import PathInput, records_from_document
from otel_scoring.translate._translation import Translation, TranslationError

_logger = logging.getLogger(__name__)
_JSON_STARTS = (b"{", b"[")


def translations_from_file(path: PathInput) -> Iterator[Translation]:
    """One :class:`Translation` per request of the file, in file order.

    Each holds its request's records as :func:`records_from_document` gives them (the latest write
    per id, sorted by time); a score written again in a later request comes again, later (as in
    the store, the latest write wins). A line that is not JSON is skipped with one warning at the
    end (a file exporter's last line can be cut short while it is written); a line that is JSON
    but not trace data raises :class:`TranslationError` naming the line, after the records before it.
    """
    with open(path, "rb") as file:
        first = file.readline()
        try:
            # A first line that translates on its own starts JSON lines; anything else (protobuf,
            # whose first byte 0x0a reads as an empty line; a pretty-printed document) is one request.
            translation = _line(path, 1, first)
        except (_NotJson, TranslationError):
            file.seek(0)
            yield _whole(path, file.read())
            return
        yield translation
        malformed = 0
        for number, line in enumerate(file, 2):
            if not line.strip():
                continue
            try:
                yield _line(path, number, line)
            except _NotJson:
                malformed += 1
        if malformed:
            _logger.warning("%s: skipped %d malformed JSON line(s) of %d.", os.fspath(path), malformed, number)


class _NotJson(Exception):
    pass


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def _line(path: PathInput, number: int, line: bytes) -> Translation:
    if line.lstrip(b"\xef\xbb\xbf \t\r")[:1] not in _JSON_STARTS:
        raise _NotJson
    try:
        return records_from_document(line)
    except TranslationError as error:
        if not _is_json(line):  # checked only here: a line that translates is JSON
            raise _NotJson from None
        raise TranslationError(f"{os.fspath(path)} line {number}: {error}") from None


def _whole(path: PathInput, data: bytes) -> Translation:
    try:
        return records_from_document(data)
    except TranslationError as error:
        raise TranslationError(f"{os.fspath(path)}: {error}") from None
