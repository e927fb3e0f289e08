"""Routes: URL paths with their ids replaced, so that per-route metrics keep a bounded cardinality.

``/api/v1/products/123`` → ``/api/v1/products/{id}``. A segment is kept only when it reads like a fixed part
of a route; anything else becomes ``{id}``:

- kept: 1–48 characters from ``A-Z a-z 0-9 _ . ~ -`` with at most 5 digits, that is neither hex of 8+
  characters holding a digit (hashes, ids) nor a 16+ character mix of upper case and digits (keys);
- replaced: numbers, UUIDs, hex ids, random-looking tokens, and every segment holding ``@``, ``%``, ``=``,
  ``:``, ``+`` or other punctuation — so an e-mail, card number, SSN, JWT or key in a path can never reach a
  metric dimension (``/users/alice@example.com/profile`` → ``/users/{id}/profile``).

The query (``?``), fragment (``#``) and matrix parameters (``;``) are dropped; an absolute URL loses its
scheme and host; at most :data:`MAX_SEGMENTS` segments are kept (``/*`` marks the rest).

Example
-------
>>> normalize_route("/api/v1/products/123?page=2")
'/api/v1/products/{id}'
>>> normalize_route("/users/alice@example.com/orders/5f0c6a1e-2b8e-4d9f-9a57-0d3c1b2a4e6f")
'/users/{id}/orders/{id}'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from loglake.scrub_rules import looks_random

ID: Final = "{id}"
MAX_SEGMENTS: Final = 8
MAX_ROUTE_CHARS: Final = 256
_PLAIN: Final = re.compile(r"[A-Za-z0-9_.~\-]{1,48}")
_HEXISH: Final = re.compile(r"[0-9a-fA-F]{8,}")
_UPPER_DIGITS: Final = re.compile(r"[A-Z0-9]{16,}")
_segment_memo: dict[str, str] = {}


def _segment(seg: str) -> str:
    out = _segment_memo.get(seg)
    if out is not None:
        return out
    if not seg:
        out = seg
    elif (
        _PLAIN.fullmatch(seg) is None
        or seg.isdigit()
        or sum(c.isdigit() for c in seg) > 5
        or (_HEXISH.fullmatch(seg) is not None and any(c.isdigit() for c in seg))
        or (_UPPER_DIGITS.fullmatch(seg) is not None and any(c.isdigit() for c in seg))
        or (len(seg) >= 32 and looks_random(seg))
    ):
        out = ID
    else:
        out = seg
    if len(seg) <= 128:  # the memo stays small: long segments are ids anyway
        if len(_segment_memo) >= 16384:
            _segment_memo.clear()
        _segment_memo[seg] = out
    return out


def normalize_route(path: str | None) -> str:
    """The route of a path: id-like and unsafe segments replaced by ``{id}``."""
    if not path:
        return "/"
    for stop in "?#;":
        if stop in path:
            path = path.split(stop, 1)[0]
    if "://" in path[:16]:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    segments = path.split("/")
    more = len(segments) > MAX_SEGMENTS + 1
    route = "/".join(_segment(s) for s in segments[: MAX_SEGMENTS + 1])
    if more:
        route += "/*"
    if not route.startswith("/"):
        route = "/" + route
    return route[:MAX_ROUTE_CHARS]


class RouteNormalizer:
    """:func:`normalize_route` memoised per path, with the scrubber's patterns as a second safeguard.

    Example
    -------
    >>> RouteNormalizer()("/api/v1/orders/42")
    '/api/v1/orders/{id}'
    """

    def __init__(self, scrub: Callable[[str], str] | None = None, *, max_entries: int = 16384) -> None:
        self._scrub = scrub
        self._memo: dict[str, str] = {}
        self._max = max_entries
        #: The route of a path seen before, or None: one dict lookup for the transformer's hot loop.
        self.cached: Callable[[str], str | None] = self._memo.get

    def __call__(self, path: str | None) -> str:
        if not path:
            return "/"
        route = self._memo.get(path)
        if route is None:
            route = normalize_route(path)
            if self._scrub is not None:
                scrubbed = self._scrub(route)
                if scrubbed != route:
                    route = normalize_route(scrubbed)
            if len(path) <= 512:  # bounded memory: at most max_entries short paths
                if len(self._memo) >= self._max:
                    self._memo.clear()
                self._memo[path] = route
        return route
