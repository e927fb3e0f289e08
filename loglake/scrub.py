"""PII scrubbing: rules are data, identifying values become keyed hashes, secrets are redacted.

- Query parameters (and keys in ``extra``) named like secrets keep their name and lose their value.
- Patterns found anywhere in ``path``, ``query_params``, ``referer``, ``user_agent`` and ``extra``: e-mail
  addresses are replaced by a keyed hash (``email:3f9a…``), so the same person joins across records but
  cannot be recovered without the key; secrets (cards, SSNs, JWTs, AWS key ids, bearer tokens) are redacted.
- ``user_id`` is replaced by ``user:<hmac>``.

The hash is HMAC-SHA256 with the pipeline's key, hex, cut to 32 characters (128 bits), prefixed by its kind.

Example
-------
>>> s = Scrubber(b"k")
>>> s.scrub_query("page=2&token=abc")
'page=2&token=[REDACTED]'
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

REDACTED: Final = "[REDACTED]"

#: Parameter names (case-insensitive) whose values are secrets.
DEFAULT_SECRET_PARAMS: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "apikey",
        "key",
        "auth",
        "authorization",
        "session",
        "sessionid",
        "ssn",
        "card",
        "cc",
        "cvv",
        "client_secret",
    }
)
#: Fields of ``extra`` that carry bodies; they are dropped outright.
BODY_FIELDS: Final = frozenset({"body", "request_body", "response_body", "requestbody", "responsebody"})


def luhn_valid(digits: str) -> bool:
    """True if the digit string passes the Luhn check (payment card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_check(match: str) -> bool:
    digits = re.sub(r"[ \-]", "", match)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


@dataclass(frozen=True)
class Rule:
    """A named pattern and what to do with its matches: ``redact`` or ``hash`` (keyed, typed by ``name``)."""

    name: str
    regex: str
    action: str = "redact"
    check: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        if self.action not in ("redact", "hash"):
            raise ValueError(f"rule {self.name!r}: action must be 'redact' or 'hash', got {self.action!r}")
        re.compile(self.regex)


DEFAULT_RULES: Final = (
    Rule("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
    Rule("bearer", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    Rule("aws_access_key_id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    Rule("email", r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}", action="hash"),
    Rule("card", r"\b\d(?:[ \-]?\d){12,18}\b", check=_card_check),
    Rule("ssn", r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"),
)


class Scrubber:
    """Applies the scrubbing rules to records, in place."""

    def __init__(
        self,
        key: bytes,
        *,
        secret_params: Iterable[str] = DEFAULT_SECRET_PARAMS,
        rules: Iterable[Rule] = DEFAULT_RULES,
    ) -> None:
        if not key:
            raise ValueError("the hash key is empty; set LOGLAKE_HASH_KEY or the key secret")
        self._key = key
        self.secret_params = frozenset(p.lower() for p in secret_params)
        self.rules = tuple(rules)
        self._compiled = [(r, re.compile(r.regex)) for r in self.rules]
        names = "|".join(sorted((re.escape(p) for p in self.secret_params), key=len, reverse=True))
        # ``name=value`` / ``"name": "value"`` pairs in free text (raw lines bound for quarantine).
        self._param_in_text = re.compile(rf'(?i)(["\']?\b(?:{names})["\']?\s*[=:]\s*["\']?)([^&\s"\',;}}]+)')

    @classmethod
    def from_settings(cls, key: bytes, scrub: dict[str, Any]) -> Scrubber:
        """Build from the ``LOGLAKE_SCRUB`` setting: extra ``secret_params`` and ``patterns`` are added."""
        params = set(DEFAULT_SECRET_PARAMS) | {str(p) for p in scrub.get("secret_params", [])}
        rules = list(DEFAULT_RULES) + [
            Rule(p["name"], p["regex"], p.get("action", "redact")) for p in scrub.get("patterns", [])
        ]
        return cls(key, secret_params=params, rules=rules)

    def hash(self, kind: str, value: str) -> str:
        """Keyed, typed hash of an identifying value: ``kind:<32 hex>``."""
        digest = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"{kind}:{digest[:32]}"

    def scrub_text(self, text: str) -> str:
        """Apply every pattern rule to free text."""
        for rule, rx in self._compiled:
            if rule.name == "email" and "@" not in text and "%40" not in text:
                continue
            text = rx.sub(lambda m, rule=rule: self._replace(rule, m.group(0)), text)
        return text

    def scrub_raw(self, text: str) -> str:
        """Scrub free text of unknown shape (a raw line bound for quarantine): secret pairs, then patterns."""
        return self.scrub_text(self._param_in_text.sub(lambda m: m.group(1) + REDACTED, text))

    def _replace(self, rule: Rule, found: str) -> str:
        if rule.check is not None and not rule.check(found):
            return found
        if rule.action == "hash":
            return self.hash(rule.name, found.replace("%40", "@").lower())
        return REDACTED

    def scrub_query(self, query: str) -> str:
        """Redact values of secret-named parameters, then apply the patterns to the rest."""
        out = []
        for pair in query.split("&"):
            name, sep, _value = pair.partition("=")
            if sep and name.lower() in self.secret_params:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(self.scrub_text(pair))
        return "&".join(out)

    def _scrub_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return self.scrub_mapping(value)
        if isinstance(value, list):
            return [self._scrub_value(v) for v in value]
        return value

    def scrub_mapping(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in data.items():
            lk = str(k).lower()
            if lk in BODY_FIELDS:
                continue
            out[k] = REDACTED if lk in self.secret_params and v is not None else self._scrub_value(v)
        return out

    def scrub_record(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Scrub a normalised record in place and return it."""
        uid = rec.get("user_id")
        if uid is not None:
            rec["user_id"] = self.hash("user", uid)
        q = rec.get("query_params")
        if q:
            rec["query_params"] = self.scrub_query(q)
        for name in ("path", "referer", "user_agent"):
            v = rec.get(name)
            if v:
                rec[name] = self.scrub_text(v)
        extra = rec.get("extra")
        if extra:
            try:
                parsed = orjson.loads(extra)
            except orjson.JSONDecodeError:
                rec["extra"] = self.scrub_text(extra)
            else:
                if isinstance(parsed, dict):
                    rec["extra"] = orjson.dumps(self.scrub_mapping(parsed), option=orjson.OPT_SORT_KEYS).decode()
                else:
                    rec["extra"] = self.scrub_text(extra)
        return rec
