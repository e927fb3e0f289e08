"""Base64 of Firehose records, with a SIMD codec when one is installed.

Firehose hands the transformer every record base64-encoded and takes every answer back so. With the standard
library's ``binascii`` that is a fifth of the transformer's time on NDJSON records; ``pybase64`` (a declared
dependency with manylinux wheels for x86_64 and aarch64, SIMD on both) does the same work about ten times
faster. Without it, the standard library does it, more slowly.

Which inputs are refused, and what the others decode to, is the standard library's contract
(``binascii.a2b_base64(data, strict_mode=True)``) whatever the codec: the fast decoder's bytes are used only
when encoding them again gives back the input — the input is then the canonical base64 of those bytes, which
is what Firehose sends and what the standard library decodes to the same bytes; any other input (padding bits
set, characters outside the alphabet, a problem of any kind) is decoded, or refused, by ``binascii``.
Encoding is deterministic: both codecs give the same text.

Example
-------
>>> decode("eyJhIjogMX0=")
b'{"a": 1}'
>>> encode_text(b'{"a": 1}')
'eyJhIjogMX0='
"""

from __future__ import annotations

from binascii import a2b_base64, b2a_base64
from collections.abc import Callable
from typing import Any, Final

__all__ = ["FAST", "decode", "decode_std", "encode_text", "encode_text_std"]


def decode_std(encoded: str | bytes) -> bytes:
    """The standard library's strict decoding (raises ``binascii.Error`` or ``ValueError`` on bad input)."""
    return a2b_base64(encoded, strict_mode=True)


def encode_text_std(data: bytes) -> str:
    """The standard library's encoding, as text without a newline."""
    return b2a_base64(data, newline=False).decode()


def _fast_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], str]] | None:
    try:
        import pybase64
    except ImportError:  # pragma: no cover - pybase64 is a dependency; this keeps a bare environment working
        return None
    fast_decode, fast_encode, fast_encode_text = pybase64.b64decode, pybase64.b64encode, pybase64.b64encode_as_string

    def decode_fast(encoded: str | bytes) -> bytes:
        """:func:`decode_std`'s result, by the fast codec when the input is canonical base64."""
        try:
            # A short record (one log line) is decoded unvalidated, which skips characters outside the alphabet:
            # the comparison below validates it, and validating first would cost ~0.15 µs more than decoding.
            # Above ~800 characters pybase64's validating decoder is the faster one.
            data: bytes = fast_decode(encoded) if len(encoded) < 800 else fast_decode(encoded, validate=True)
        except (ValueError, TypeError):  # not base64 as the fast codec reads it: binascii decides
            return a2b_base64(encoded, strict_mode=True)
        if (fast_encode_text(data) if type(encoded) is str else fast_encode(data)) == encoded:
            return data
        return a2b_base64(encoded, strict_mode=True)  # valid, but not canonical: binascii decodes it

    return decode_fast, fast_encode_text


_CODEC: Final = _fast_codec()
#: Is the fast codec in use?
FAST: Final = _CODEC is not None
#: ``str | bytes`` → bytes, exactly as :func:`decode_std`.
decode: Final[Callable[[str | bytes], bytes]] = _CODEC[0] if _CODEC else decode_std
#: bytes → base64 text, exactly as :func:`encode_text_std`.
encode_text: Final[Callable[[bytes], str]] = _CODEC[1] if _CODEC else encode_text_std
