"""The head of a one-line record: what sampling and counting need from an access-log line, before anything else.

For each Firehose record of a line stream (one Apache/Nginx line per record, as log agents send them) the
transformer needs, before it decides anything: the line's time, status and client IP, its ``request_id``
(derived from the line: :func:`loglake.formats.combined.line_id`) and whether sampling keeps that id. A line
that sampling drops needs nothing more, and most lines are dropped, so this is most of the transformer's work
on such streams.

:func:`py_head` is the reference, in Python. ``loglake/_linehead.c`` does the same in one native call (base64,
the match, both SHA-256s) for the lines it can be sure of, which is nearly all of them: ASCII, no backslash,
the time in its usual 26 characters. It answers None for the others, and the transformer then takes its
general path, which gives the same results (``tests/unit/test_linehead.py`` holds the native answers to the
reference; ``tests/functional/test_transformer_lines.py`` holds both paths to the general one).

:data:`head` is the native function when the extension is built and OpenSSL's SHA-256 could be found (the
one ``hashlib`` already loaded), otherwise :func:`py_head`. ``LOGLAKE_NATIVE=0`` switches the native one off.

Example
-------
>>> import base64
>>> line = b'1.2.3.4 - - [17/May/2015:10:05:03 +0200] "GET / HTTP/1.1" 200 512 "-" "curl/8"'
>>> py_head(base64.b64encode(line).decode(), bytes(8))[:3]
(1431849903000, 200, '1.2.3.4')
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable
from typing import Final

from loglake.b64 import decode as b64decode
from loglake.b64 import encode_text
from loglake.formats.combined import _ESCAPED_SCAN_RE, _FAST_SCAN_RE, _STATUS_VALUES, line_id, scan_time
from loglake.sampling import short_sha256

__all__ = ["NATIVE", "Head", "head", "py_head"]

logger = logging.getLogger(__name__)

#: (timestamp ms UTC, status code or None, client host, request_id as 32 ASCII hex digits, kept by sampling).
Head = tuple[int, int | None, str, bytes, bool]

#: First bytes that mean the record is not a line: JSON, gzip (CloudWatch Logs), a UTF-8 byte-order mark.
NOT_A_LINE: Final = frozenset(b"{[\x1f\xef")


def py_head(data: str, threshold: bytes) -> Head | None:
    """The head of a record's base64 ``data`` when it is one access-log line, else None.

    ``threshold`` is :func:`loglake.sampling.keep_below` of the service's rate: the last item says whether
    the SHA-256 of the line's ``request_id`` falls below it. None also for lines whose time the log format
    refuses: the general path says why.
    """
    try:
        raw = b64decode(data)
    except (ValueError, TypeError):
        return None
    if not raw or raw[0] in NOT_A_LINE or 10 in raw:  # 10: "\n"
        return None
    line = raw.strip()
    text = line.decode("utf-8", "replace").strip()
    m = (_ESCAPED_SCAN_RE if "\\" in text else _FAST_SCAN_RE).match(text)
    if m is None:
        return None
    host, when, status = m.group(2, 5, 7)
    ts = scan_time(when)
    if ts is None:
        return None
    code = _STATUS_VALUES.get(status)
    if code is None and status != "-":
        code = int(status)  # digits of another script: \d matches them, int() reads them
    request_id = line_id(line).encode()
    return ts, code, host, request_id, short_sha256(request_id).digest() < threshold


def _openssl_sha256() -> tuple[int, int, int] | None:
    """The addresses of ``SHA256_Init``/``_Update``/``_Final`` in the OpenSSL that ``hashlib`` loaded."""
    try:
        import _hashlib  # type: ignore[import-not-found,unused-ignore]

        library = ctypes.CDLL(_hashlib.__file__)  # dlsym searches its dependencies: libcrypto
        init, update, final = (
            ctypes.cast(getattr(library, f"SHA256_{name}"), ctypes.c_void_p).value
            for name in ("Init", "Update", "Final")
        )
    except (ImportError, AttributeError, OSError):
        return None
    return (init, update, final) if init and update and final else None


#: A line whose head both implementations must give, checked before the native one is trusted.
_KNOWN_LINE: Final = encode_text(b'1.2.3.4 - - [17/May/2015:10:05:03 +0200] "GET / HTTP/1.1" 200 512 "-" "curl/8"')


def _native() -> Callable[[str, bytes], Head | None] | None:
    if os.environ.get("LOGLAKE_NATIVE", "1") == "0":
        return None
    try:
        from loglake import _linehead  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    sha = _openssl_sha256()
    if sha is None:
        logger.warning("OpenSSL's SHA256_* functions were not found: one-line records take the Python path")
        return None
    _linehead.set_sha256(*sha)
    native: Callable[[str, bytes], Head | None] = _linehead.head
    for threshold in (b"\x00" * 8, b"\xff" * 8):
        if native(_KNOWN_LINE, threshold) != py_head(_KNOWN_LINE, threshold):
            logger.warning(
                "loglake._linehead disagrees with the Python reference: one-line records take the "
                "Python path (report this, with the platform)"
            )
            return None
    return native


_native_head = _native()
#: Whether :data:`head` is the native implementation.
NATIVE: Final = _native_head is not None
#: :func:`py_head`'s contract, natively where possible (None also for lines the native code leaves to Python).
head: Final[Callable[[str, bytes], Head | None]] = _native_head or py_head
