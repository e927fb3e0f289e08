"""JSON inputs: one object, NDJSON (many objects, one per line), or an array of objects.

orjson parses; what orjson refuses but the standard library can read without losing anything is read by
the standard library instead (``NaN``/``Infinity`` are kept as the strings ``"NaN"``/``"Infinity"`` so the
schema can refuse them by name; numbers beyond 64 bits are kept as their digit strings). Invalid UTF-8 is
decoded with U+FFFD replacement characters and the event says so in ``_loglake.replaced``.

Example
-------
>>> loads_lenient(b'{"a": NaN}')
({'a': 'NaN'}, None)
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

import orjson

_NOTE_KEY: Final = "_loglake"


def _parse_float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def _parse_int(text: str) -> int | str:
    value = int(text)
    return value if -(2**63) <= value < 2**64 else text


def loads_lenient(data: bytes) -> tuple[Any, str | None]:
    """Parse JSON text; returns ``(value, None)`` or ``(None, reason)`` — never raises.

    Example
    -------
    >>> loads_lenient(b'{"a": 1')[1].startswith("invalid JSON")
    True
    """
    try:
        return orjson.loads(data), None
    except orjson.JSONDecodeError as exc:
        first_error = str(exc)
    replaced = False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text, replaced = data.decode("utf-8", "replace"), True
    try:
        value = json.loads(text, parse_constant=str, parse_float=_parse_float, parse_int=_parse_int)
        orjson.dumps(value)  # lone surrogates and other values that could not be written again
    except (ValueError, RecursionError, TypeError) as exc:
        if isinstance(exc, RecursionError):
            return None, "invalid JSON: nested deeper than 1,000 levels"
        return None, f"invalid JSON: {first_error}"
    if replaced and isinstance(value, dict):
        note = value.get(_NOTE_KEY)
        note = dict(note) if isinstance(note, dict) else {}
        note["replaced"] = "invalid UTF-8 bytes replaced by U+FFFD"
        value[_NOTE_KEY] = note
    return value, None
