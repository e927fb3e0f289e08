"""PII scrubbing: rules are data (:mod:`loglake.scrub_rules`), identifying values become keyed hashes.

What happens to an event the transformer keeps, before it is written anywhere:

- ``path``, ``referer`` (URLs: path, ``;matrix`` parameters, query and fragment), ``query_params``,
  ``user_agent`` and every string anywhere in ``extra`` pass through the pattern rules: secrets are redacted
  (``[REDACTED]``), e-mail addresses become keyed hashes (``email:3f9a…``);
- query parameters, fields of ``extra`` (at any depth) and ``name=value`` pairs in text whose names mean a
  secret (:data:`~loglake.scrub_rules.DEFAULT_SECRET_PARAMS`, names ending in ``password``, ``token``, …,
  case-insensitive, ``-``/``_`` ignored) keep their name and lose their value;
- ``user_id`` and identifying names (``user_id``, ``email``, … in queries and ``extra``) become keyed
  hashes typed by kind (``user:…``), so one person joins across records but cannot be recovered without
  the key;
- request and response bodies in ``extra`` (``body``, ``request_body``, …) are dropped, and the record says so
  in ``extra._loglake.dropped``;
- ``ip_address`` is truncated to its /24 (IPv4) or /48 (IPv6) network when the service asks for it (a value
  that is no IP address is scrubbed as text);
- ``method`` and ``level`` pass through the patterns too; ``request_id`` and ``trace_id`` are ids that sampling
  and tracing join on, so they are rewritten only if they hold an e-mail address.

Quarantined events (which failed validation, so any field may hold anything) are scrubbed as a whole:
every value at every depth, by :meth:`Scrubber.scrub_mapping`; raw bytes by :meth:`Scrubber.scrub_raw`.

The hash is HMAC-SHA256 with the pipeline's key, hex, cut to 32 characters (128 bits), prefixed by its kind.
Scrubbing is idempotent: scrubbing scrubbed text changes nothing (hashes are not mistaken for secrets).

Example
-------
>>> s = Scrubber(b"k")
>>> s.scrub_query("page=2&token=abc&sort=price")
'page=2&token=[REDACTED]&sort=price'
>>> s.scrub_text("mail alice@example.com").startswith("mail email:")
True
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import unquote_plus

import orjson

from loglake.errors import ConfigError
from loglake.ipnet import ip_kind, truncate_ip
from loglake.schema import FIELDS_BY_NAME, PIPELINE_NOTE_KEY
from loglake.scrub_rules import (
    BODY_FIELDS,
    DEFAULT_HASH_PARAMS,
    DEFAULT_RULES,
    DEFAULT_SECRET_PARAMS,
    REDACTED,
    SECRET_SUFFIXES,
    Rule,
    Span,
    canonical_name,
    luhn_valid,
    rules_from_settings,
)

__all__ = ["REDACTED", "Rule", "Scrubber", "ip_kind", "luhn_valid", "truncate_ip"]

_DIGITS: Final = b"0123456789"
_NAME_DROP: Final = str.maketrans("", "", "-_. ")
#: Schema fields the scrubber rewrites; the others (ids, method, status, …) are constrained or not personal.
_SCRUBBED_FIELDS: Final = frozenset(
    {"path", "referer", "query_params", "user_agent", "user_id", "ip_address", "extra", "method", "level"}
    | {"request_id", "trace_id"}
)
#: Strings longer than this are not memoised (the caches stay small).
_MEMO_MAX_LEN: Final = 512
_MEMO_MAX_ENTRIES: Final = 8192
#: Deeper than this, a nested value of ``extra`` is scrubbed as JSON text.
_MAX_DEPTH: Final = 32
#: ``name=value``, ``name: value``, ``"name": "value"`` in free text; the value is quoted or bare.
_PAIR_RE: Final = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<name>[A-Za-z0-9_.\-]{1,64}+)[\"']?[ \t]{0,3}[=:][ \t]{0,3}"
    r"""(?:"(?P<dq>[^"\\]*(?:\\.[^"\\]*)*)"|'(?P<sq>[^'\\]*(?:\\.[^'\\]*)*)'|(?P<bare>[^&\s"',;}\]\[<>]+))"""
)


def _as_text(value: Any) -> Any:
    """A scalar as the schema will store it in a string field; other values unchanged."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


class Scrubber:
    """Applies the scrubbing rules. Build one per cold start; it memoises repeated values (user agents).

    Parameters
    ----------
    key:
        The HMAC key; an empty key is refused (loglake never writes unkeyed hashes of personal data).
    secret_params:
        Names whose values are secrets (compared after :func:`~loglake.scrub_rules.canonical_name`).
    hash_params:
        Name → hash kind for identifying values (``{"user_id": "user", "email": "email"}``).
    rules:
        Pattern rules, applied in order; the ``secret_pair`` rule is built from ``secret_params``.
    """

    def __init__(
        self,
        key: bytes,
        *,
        secret_params: Iterable[str] = DEFAULT_SECRET_PARAMS,
        hash_params: Mapping[str, str] = DEFAULT_HASH_PARAMS,
        rules: Iterable[Rule] = DEFAULT_RULES,
        body_fields: Iterable[str] = BODY_FIELDS,
        secret_suffixes: Iterable[str] = SECRET_SUFFIXES,
    ) -> None:
        if not key:
            raise ConfigError("the hash key is empty; set LOGLAKE_HASH_KEY or LOGLAKE_HASH_KEY_SECRET")
        self._key = key
        self.secret_params = frozenset(canonical_name(p) for p in secret_params)
        self.secret_suffixes = tuple(canonical_name(s) for s in secret_suffixes)
        self.hash_params = {canonical_name(k): v for k, v in hash_params.items()}
        self.body_fields = frozenset(canonical_name(b) for b in body_fields)
        # Names are compared without separators; the hint tolerates any in between (``access-token``).
        words = sorted({*self.secret_params, *self.secret_suffixes}, key=len, reverse=True)
        self._name_hint = re.compile("|".join(re.escape(w) for w in words if w) or "(?!)")
        pair = Rule("secret_pair", finder=self._find_secret_pairs, triggers=("=", ":"))
        ordered = list(rules)
        # Header-like tokens (``Bearer x``) go first so that ``Authorization: Bearer x`` loses the token too.
        at = next(
            (i for i, r in enumerate(ordered) if r.name in ("ssn", "card", "secret_token", "email")), len(ordered)
        )
        ordered.insert(at, pair)
        self.rules: tuple[Rule, ...] = tuple(ordered)
        # One flat list of trigger substrings (cheap ``in`` tests) → the rules each one enables.
        self._triggers: dict[str, set[int]] = {}
        for i, rule in enumerate(self.rules):
            for trigger in rule.triggers:
                self._triggers.setdefault(trigger, set()).add(i)
        self._trigger_list = tuple(sorted(self._triggers))
        self._hash_memo: dict[tuple[str, str], str] = {}
        self._text_memo: dict[str, str] = {}
        self._query_memo: dict[str, str] = {}
        self._url_memo: dict[str, str] = {}
        self._ip_memo: dict[str, str | None] = {}

    @classmethod
    def from_settings(cls, key: bytes, scrub: Mapping[str, Any]) -> Scrubber:
        """Build from the ``LOGLAKE_SCRUB`` setting; its entries extend the defaults.

        ``{"secret_params": ["pin"], "hash_params": {"customer": "user"},
        "patterns": [{"name": "order_ref", "regex": "ORD-\\\\d{8}", "action": "redact"}]}``

        Raises
        ------
        ConfigError
            If the setting has unknown keys or malformed entries.
        """
        unknown = set(scrub) - {"secret_params", "hash_params", "patterns"}
        if unknown:
            raise ConfigError(
                f"LOGLAKE_SCRUB has unknown keys {sorted(unknown)}; use secret_params, hash_params and patterns"
            )
        params = scrub.get("secret_params", [])
        hashes = scrub.get("hash_params", {})
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise ConfigError("LOGLAKE_SCRUB.secret_params must be a list of parameter names")
        if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
            raise ConfigError("LOGLAKE_SCRUB.hash_params must map names to a hash kind, e.g. {'customer': 'user'}")
        extra_rules = rules_from_settings(scrub.get("patterns", []))
        # User patterns run before e-mail hashing, so that their matches are not hashed first.
        rules = [*DEFAULT_RULES[:-1], *extra_rules, DEFAULT_RULES[-1]]
        return cls(
            key,
            secret_params=set(DEFAULT_SECRET_PARAMS) | set(params),
            hash_params={**DEFAULT_HASH_PARAMS, **hashes},
            rules=rules,
        )

    # ------------------------------------------------------------------ primitives

    def hash(self, kind: str, value: str) -> str:
        """Keyed, typed hash of an identifying value: ``kind:<32 hex>``.

        Example
        -------
        >>> Scrubber(b"k").hash("user", "42")
        'user:7955074f51169f1f64053d8b2c403d7f'
        """
        memo_key = (kind, value)
        out = self._hash_memo.get(memo_key)
        if out is None:
            digest = hmac.digest(self._key, value.encode("utf-8", "surrogatepass"), "sha256")
            out = f"{kind}:{digest.hex()[:32]}"
            if len(self._hash_memo) >= _MEMO_MAX_ENTRIES:
                self._hash_memo.clear()
            self._hash_memo[memo_key] = out
        return out

    def is_secret_name(self, name: str) -> bool:
        """Does a parameter / field name mean a secret?"""
        c = canonical_name(name)
        return c in self.secret_params or c.endswith(self.secret_suffixes)

    def _is_secret_canonical(self, c: str) -> bool:
        return c in self.secret_params or c.endswith(self.secret_suffixes)

    def _find_secret_pairs(self, text: str) -> list[Span]:
        # Cheap first: a secret name (or the start of one's suffix) must occur at all.
        if self._name_hint.search(text.lower().translate(_NAME_DROP)) is None:
            return []
        out: list[Span] = []
        pos = 0
        while (m := _PAIR_RE.search(text, pos)) is not None:
            group = "dq" if m.group("dq") is not None else "sq" if m.group("sq") is not None else "bare"
            if self.is_secret_name(m.group("name")):
                if m.group(group) and m.group(group) != REDACTED:
                    out.append(m.span(group))
                pos = m.end()
            else:  # "failed: password=x": the value of a harmless pair may hold the next pair
                pos = m.start(group)
        return out

    def _apply(self, rule: Rule, text: str, spans: Iterable[Span]) -> str:
        parts: list[str] = []
        last = 0
        for start, end in sorted(spans):
            if start < last:
                continue
            parts.append(text[last:start])
            found = text[start:end]
            if rule.action == "hash":
                if rule.name == "email":
                    found = unquote_plus(found).lower()
                parts.append(self.hash(rule.name, found))
            else:
                parts.append(REDACTED)
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def scrub_text(self, text: str) -> str:
        """Apply every pattern rule to free text (memoised for short, repeated texts)."""
        if len(text) <= _MEMO_MAX_LEN:
            out = self._text_memo.get(text)
            if out is None:
                out = self._scrub_text(text)
                if len(self._text_memo) >= _MEMO_MAX_ENTRIES:
                    self._text_memo.clear()
                self._text_memo[text] = out
            return out
        return self._scrub_text(text)

    def _scrub_text(self, text: str) -> str:
        lower = text.lower()
        triggered: set[int] = set()
        for trigger in self._trigger_list:
            if trigger in lower:
                triggered |= self._triggers[trigger]
        digits = -1
        for i, rule in enumerate(self.rules):
            if rule.triggers and i not in triggered:
                continue
            if rule.min_digits:
                if digits < 0:
                    raw = text.encode("utf-8", "surrogatepass")
                    digits = len(raw) - len(raw.translate(None, _DIGITS))
                if digits < rule.min_digits:
                    continue
            spans = rule.spans(text)
            if spans:
                before = text
                text = self._apply(rule, text, spans)
                if text != before:  # later rules see the replacement; recompute what they test
                    lower = text.lower()
                    triggered = set()
                    for trigger in self._trigger_list:
                        if trigger in lower:
                            triggered |= self._triggers[trigger]
                    digits = -1
        return text

    # ------------------------------------------------------------------ structured values

    def scrub_query(self, query: str) -> str:
        """Redact values of secret-named parameters, hash identifying ones, apply the patterns to the rest.

        Example
        -------
        >>> Scrubber(b"k").scrub_query("Password=x&page=2")
        'Password=[REDACTED]&page=2'
        """
        if len(query) <= _MEMO_MAX_LEN:
            out = self._query_memo.get(query)
            if out is not None:
                return out
        pairs = []
        for pair in query.split("&"):
            name, sep, value = pair.partition("=")
            if sep and value:
                c = canonical_name(name)
                if self._is_secret_canonical(c):
                    pairs.append(f"{name}={REDACTED}")
                    continue
                kind = self.hash_params.get(c)
                if kind is not None:
                    decoded = unquote_plus(value)
                    pairs.append(f"{name}={self.hash(kind, decoded.lower() if kind == 'email' else decoded)}")
                    continue
            pairs.append(self.scrub_text(pair) if pair else pair)
        out = "&".join(pairs)
        if len(query) <= _MEMO_MAX_LEN:
            if len(self._query_memo) >= _MEMO_MAX_ENTRIES:
                self._query_memo.clear()
            self._query_memo[query] = out
        return out

    def scrub_url(self, url: str) -> str:
        """A path or URL: patterns on the path (``;name=value`` pairs included), query and fragment as queries.

        Example
        -------
        >>> Scrubber(b"k").scrub_url("https://a.example/pay?card=4111111111111111&step=2#access_token=x")
        'https://a.example/pay?card=[REDACTED]&step=2#access_token=[REDACTED]'
        """
        out = self._url_memo.get(url)
        if out is not None:
            return out
        base, qmark, rest = url.partition("?")
        if qmark:
            query, hash_mark, fragment = rest.partition("#")
        else:
            base, hash_mark, fragment = base.partition("#")
            query = ""
        out = self.scrub_text(base)
        if qmark:
            out += "?" + self.scrub_query(query)
        if hash_mark:
            out += "#" + self.scrub_query(fragment)
        if len(url) <= _MEMO_MAX_LEN:  # paths and referers repeat
            if len(self._url_memo) >= _MEMO_MAX_ENTRIES:
                self._url_memo.clear()
            self._url_memo[url] = out
        return out

    def scrub_value(self, value: Any, depth: int = 0) -> Any:
        """A value of ``extra`` at any depth: strings scrubbed, mappings by :meth:`scrub_mapping`."""
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return self.scrub_mapping(value, depth + 1)
        if isinstance(value, list):
            if depth >= _MAX_DEPTH:
                return self.scrub_raw(orjson.dumps(value, default=str).decode())
            return [self.scrub_value(v, depth + 1) for v in value]
        return value

    def scrub_mapping(self, data: Mapping[Any, Any], depth: int = 0, dropped: list[str] | None = None) -> Any:
        """Secret-named values redacted, identifying ones hashed, bodies dropped, everything else scrubbed."""
        if depth >= _MAX_DEPTH:
            return self.scrub_raw(orjson.dumps(data, default=str).decode())
        out: dict[Any, Any] = {}
        for k, v in data.items():
            key = k if isinstance(k, str) else str(k)
            c = canonical_name(key)
            if c in self.body_fields:
                if dropped is not None:
                    dropped.append(key)
                continue
            key = self.scrub_text(key)
            if v is None:
                out[key] = v
            elif self._is_secret_canonical(c):
                out[key] = REDACTED
            elif (kind := self.hash_params.get(c)) is not None and isinstance(v, str | int) and v != "":
                text = _as_text(v)
                out[key] = self.hash(kind, unquote_plus(text).lower() if kind == "email" else text)
            else:
                out[key] = self.scrub_value(v, depth)
        return out

    def scrub_raw(self, text: str) -> str:
        """Scrub text of unknown shape (a raw line bound for quarantine): pairs and patterns, no memo."""
        return self._scrub_text(text)

    def scrub_ip(self, value: str, *, truncate: bool) -> str:
        """An ``ip_address`` value: truncated to its network when asked; text that is no IP is scrubbed.

        Example
        -------
        >>> s = Scrubber(b"k")
        >>> s.scrub_ip("198.51.100.23", truncate=True), s.scrub_ip("2001:db8:85a3:1:2:3:4:5", truncate=True)
        ('198.51.100.0', '2001:db8:85a3::')
        """
        if "," in value:  # X-Forwarded-For style lists
            return ", ".join(self.scrub_ip(v.strip(), truncate=truncate) for v in value.split(","))
        if truncate:
            net = truncate_ip(value)
            if net is not None:
                return net
            return self.hash("host", value) if value else value
        return value if ip_kind(value) else self.scrub_text(value)

    def scrub_event(self, event: Mapping[str, Any], *, truncate_ip: bool = False) -> dict[str, Any]:
        """A scrubbed copy of a raw event (before :func:`~loglake.schema.normalize` cuts its fields).

        Scrubbing before cutting means no secret is ever left half-visible at a cut.

        Example
        -------
        >>> s = Scrubber(b"k")
        >>> e = s.scrub_event({"path": "/u/bob@example.com", "query_params": "pwd=1", "body": "x", "user_id": 7})
        >>> e["path"].startswith("/u/email:"), e["query_params"], "body" in e, e["user_id"].startswith("user:")
        (True, 'pwd=[REDACTED]', False, True)
        """
        out = dict(event)
        dropped: list[str] = []
        for name in _SCRUBBED_FIELDS.intersection(out):
            value = out[name]
            if value is None:
                continue
            text = _as_text(value)
            if not isinstance(text, str):
                # Not text: normalize refuses it by name (quarantine scrubs it as a value first).
                out[name] = (
                    self.scrub_mapping(value, 0, dropped) if isinstance(value, Mapping) else self.scrub_value(value)
                )
            elif name == "path" or name == "referer":
                out[name] = self.scrub_url(text)
            elif name == "query_params":
                out[name] = self.scrub_query(text)
            elif name == "user_agent":
                out[name] = self.scrub_text(text)
            elif name == "user_id":
                out[name] = self.hash("user", text) if text else text
            elif name == "ip_address":
                out[name] = self.scrub_ip(text, truncate=truncate_ip)
            elif name == "extra":
                out[name] = self._scrub_extra_text(text, dropped)
            elif name == "method" or name == "level":
                out[name] = self.scrub_text(text)  # short, few distinct values: memoised
            elif "@" in text or "%40" in text:  # request_id, trace_id: ids, but never an e-mail address
                out[name] = self.scrub_text(text)
        # Everything outside the schema lands in ``extra``: scrub it as mapping entries.
        for name in [k for k in out if k not in FIELDS_BY_NAME]:
            entry = self.extra_entry(name, out.pop(name), dropped)
            if entry is not None:
                out[entry[0]] = entry[1]
        if dropped:
            note = out.get(PIPELINE_NOTE_KEY)
            note = dict(note) if isinstance(note, dict) else {}
            note["dropped"] = sorted(set(dropped))
            out[PIPELINE_NOTE_KEY] = note
        return out

    def extra_entry(self, name: Any, value: Any, dropped: list[str]) -> tuple[str, Any] | None:
        """One field outside the schema (bound for ``extra``), scrubbed: ``(key, value)``, or None when it is a
        body (its name is added to ``dropped``)."""
        key = name if isinstance(name, str) else str(name)
        c = canonical_name(key)
        if c in self.body_fields:
            dropped.append(key)
            return None
        key = self.scrub_text(key)
        if value is None:
            return key, value
        if self._is_secret_canonical(c):
            return key, REDACTED
        if (kind := self.hash_params.get(c)) is not None and isinstance(value, str | int) and value != "":
            text = _as_text(value)
            return key, self.hash(kind, unquote_plus(text).lower() if kind == "email" else text)
        return key, self.scrub_value(value)

    def _scrub_extra_text(self, text: str, dropped: list[str]) -> Any:
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self.scrub_text(text)
        if isinstance(parsed, dict):
            return self.scrub_mapping(parsed, 0, dropped)
        return self.scrub_text(text)
