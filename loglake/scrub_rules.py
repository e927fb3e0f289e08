"""PII rules as data: named patterns, secret parameter names, identifying names, body fields.

Every pattern is a :class:`Rule` — a name, a regular expression (or a finder function for the patterns a
regex cannot judge alone: e-mail addresses and Luhn-checked card numbers), an action (``redact`` replaces
the match by ``[REDACTED]``; ``hash`` by a keyed hash typed by the rule's name, ``email:3f9a…``) and a cheap
*trigger* that must be present before the pattern runs, so that ordinary text costs a few substring tests.
All default patterns run in linear time: token runs start only where a run starts (a look-behind) and
quantifiers are possessive, so a 900 KB string cannot make the scrubber backtrack.

=====================  ======  ================================================================================
rule                   action  catches
=====================  ======  ================================================================================
``private_key``        redact  ``-----BEGIN … PRIVATE KEY-----`` blocks
``url_credentials``    redact  the ``user:password`` of ``https://user:password@host``
``jwt``                redact  JSON Web Tokens (``eyJ….eyJ….sig``)
``bearer``             redact  the token after ``Bearer`` (also ``Bearer%20``/``Bearer+``)
``basic_auth``         redact  the credentials after ``Basic``
``known_token``        redact  GitHub, Slack, Stripe and Google API tokens, by their documented prefixes
``aws_access_key_id``  redact  ``AKIA…``/``ASIA…`` (and the other documented prefixes) + 16 characters
``secret_pair``        redact  the value of ``name=value`` / ``name: value`` / ``"name": "value"`` where the
                               name means a secret (see :data:`DEFAULT_SECRET_PARAMS`)
``ssn``                redact  US social security numbers ``123-45-6789`` (area/group/serial rules applied)
``card``               redact  13–19 digits, Luhn-valid, with or without ``' '``, ``'-'``, ``'+'`` or ``%20``
                               separators; order numbers that fail Luhn are left alone
``secret_token``       redact  long secrets in token-like positions: a whole path segment, query value, header
                               value or field value of 32+ characters that is hex (letters and digits) or
                               random-looking base64/base64url (mixed case and digits changing often, see
                               :func:`looks_random`); UUIDs and pipeline hashes are left alone
``email``              hash    e-mail addresses, also URL-encoded (``alice%40example.com``)
=====================  ======  ================================================================================

Example
-------
>>> [r.name for r in DEFAULT_RULES][:3]
['private_key', 'url_credentials', 'jwt']
>>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
(True, False)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote_plus

from loglake.errors import ConfigError

REDACTED: Final = "[REDACTED]"

#: Parameter / field names (compared after :func:`canonical_name`) whose values are secrets.
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
        "proxy_authorization",
        "session",
        "sessionid",
        "ssn",
        "card",
        "cc",
        "cvv",
        "cvc",
        "client_secret",
        "private_key",
        "x_api_key",
        "cookie",
        "set_cookie",
    }
)
#: A name *ending* in one of these (after :func:`canonical_name`) is a secret too: ``db_password``,
#: ``github_token``, ``stripe_secret``, ``x-amz-security-token``, ``jsessionid``.
SECRET_SUFFIXES: Final = ("password", "passwd", "secret", "token", "apikey", "sessionid", "privatekey")
#: Names whose values identify a person: hashed (typed by the value given here), never stored as sent.
DEFAULT_HASH_PARAMS: Final = {
    "user_id": "user",
    "userid": "user",
    "uid": "user",
    "username": "user",
    "user_name": "user",
    "email": "email",
    "email_address": "email",
    "user_email": "email",
}
#: Fields that carry request or response bodies: dropped outright.
BODY_FIELDS: Final = frozenset(
    {"body", "request_body", "response_body", "req_body", "resp_body", "http_body", "payload_body"}
)

_NAME_DROP: Final = str.maketrans("", "", "-_. ")


def canonical_name(name: str) -> str:
    """How names are compared: URL-decoded, lower case, without ``-``, ``_``, ``.`` and spaces.

    Example
    -------
    >>> canonical_name("X-Api-Key"), canonical_name("access%5Ftoken")
    ('xapikey', 'accesstoken')
    """
    if "%" in name or "+" in name:
        name = unquote_plus(name)
    return name.lower().translate(_NAME_DROP)


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


# --------------------------------------------------------------------------- finders (span lists)

Span = tuple[int, int]
_EMAIL_AT: Final = re.compile(r"@|%40")
_LOCAL_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-'")
_DOMAIN_RE: Final = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])")


def find_emails(text: str) -> list[Span]:
    """Spans of e-mail addresses, found from each ``@`` (or ``%40``) outwards: linear in the text."""
    spans: list[Span] = []
    last_end = 0
    for at in _EMAIL_AT.finditer(text):
        start = at.start()
        if start < last_end:
            continue
        i = start
        while i > last_end and start - i < 64 and text[i - 1] in _LOCAL_CHARS:
            i -= 1
        while i < start and text[i] in ".'%+-":  # a local part does not start with punctuation
            i += 1
        if i == start:
            continue
        domain = _DOMAIN_RE.match(text, at.end())
        if domain is None:
            continue
        spans.append((i, domain.end()))
        last_end = domain.end()
    return spans


#: Runs of digit groups of 3+ digits (cards print as 4-4-4-4, 4-6-5, 4-4-4-4-3) with single separators.
_DIGIT_RUN: Final = re.compile(r"(?<![0-9])[0-9]{3,}+(?:(?:[ +-]|%20)[0-9]{3,}+)*+")
_SEPARATOR: Final = re.compile(r"[ +-]|%20")


def find_cards(text: str) -> list[Span]:
    """Spans of Luhn-valid 13–19 digit numbers, with or without separators between digit groups.

    A run of digit groups is searched for every sub-run (aligned to its groups) that is a card, so a card
    next to other numbers (``"order 123 4111 1111 1111 1111"``) is still found; an unbroken run of digits
    is a card only as a whole.
    """
    spans: list[Span] = []
    for m in _DIGIT_RUN.finditer(text):
        if m.end() - m.start() < 13:
            continue
        groups: list[Span] = []
        pos = m.start()
        for sep in _SEPARATOR.finditer(text, m.start(), m.end()):
            groups.append((pos, sep.start()))
            pos = sep.end()
        groups.append((pos, m.end()))
        i = 0
        while i < len(groups):
            digits = ""
            best = -1
            for j in range(i, len(groups)):
                digits += text[groups[j][0] : groups[j][1]]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_valid(digits):
                    best = j  # keep extending: the longest valid card starting at group i wins
            if best >= 0:
                spans.append((groups[i][0], groups[best][1]))
                i = best + 1
            else:
                i += 1
    return spans


_SSN_RE: Final = re.compile(r"([0-9]{3})-([0-9]{2})-([0-9]{4})")


def find_ssns(text: str) -> list[Span]:
    """Spans of US social security numbers ``AAA-GG-SSSS`` (no area 000/666/9xx, group 00, serial 0000)."""
    out: list[Span] = []
    for m in _SSN_RE.finditer(text):
        start, end = m.span()
        if (start and text[start - 1] in "0123456789-") or (end < len(text) and text[end] in "0123456789-"):
            continue
        area, group, serial = m.groups()
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
            continue
        out.append((start, end))
    return out


# --------------------------------------------------------------------------- the random-token heuristic

_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
_HASH_PREFIX: Final = re.compile(r"(?:^|[^A-Za-z0-9_])[a-z][a-z0-9_]{0,30}:$")


def _char_class(c: str) -> int:
    return 0 if "A" <= c <= "Z" else 1 if "a" <= c <= "z" else 2


def looks_random(token: str) -> bool:
    """True for a 32+ character token that is a secret rather than a word, a slug or an id.

    Hex (``[0-9a-f]``, letters *and* digits) always is. Otherwise, over the letters and digits: at least two
    of upper case, lower case and digits, with the character class changing between neighbours at least 30 %
    of the time (random base64 changes ~64 % of the time, CamelCase words and slugs ~10–27 %), and digits
    present unless the class changes at least 45 % of the time. UUIDs are ids, not secrets.

    Example
    -------
    >>> looks_random("rJIskveIvnIV6N9H5Zj53nwB9urf41GRHjwHrOQpL0Q"), looks_random("TransportMasterNodeOperationAction")
    (True, False)
    """
    core = token.rstrip("=")
    if len(core) < 32 or _UUID.fullmatch(core):
        return False
    if _HEX.fullmatch(core):
        return not core.isdigit() and not core.isalpha()
    chars = [c for c in core if c.isascii() and c.isalnum()]
    if len(chars) < 24:
        return False
    classes = [_char_class(c) for c in chars]
    if len(set(classes)) < 2:
        return False
    changes = sum(1 for a, b in itertools.pairwise(classes) if a != b) / (len(classes) - 1)
    return changes >= 0.45 or (changes >= 0.30 and 2 in classes)


_TOKEN: Final = r"A-Za-z0-9+_\-"
_ESCAPED: Final = r"%2[FfBb]|%3[Dd]"  # URL-encoded '/', '+' and '=' of standard base64
#: Base64url-like runs of 32+ characters bounded by anything else: path segments, values, words in text.
_SEGMENT_TOKEN_RE: Final = re.compile(rf"(?<![{_TOKEN}%])(?:[{_TOKEN}]|{_ESCAPED}){{32,}}+={{0,2}}+")
#: Runs that may hold a raw '/' (standard base64) — but never start at one, so a path is never one run.
_SLASHED_TOKEN_RE: Final = re.compile(
    rf"(?<![{_TOKEN}/%])(?:[{_TOKEN}]|{_ESCAPED})(?:[{_TOKEN}/]|{_ESCAPED}){{31,}}+={{0,2}}+"
)


def find_secret_tokens(text: str) -> list[Span]:
    """Spans of random-looking 32+ character tokens (see :func:`looks_random`) in token-like positions.

    A token is a whole path segment, query or header value, field value, or word — URL-encoded or not.
    Standard base64 holds ``/``: a run with ``/`` is judged as a whole when none of its pieces was a secret
    on its own (``key=wJalrXUtnFEMI/K7MDENG/bPxRfiCY…`` loses its value, ``/reset/<token>`` only the token),
    unless it starts a path — inside a path a raw ``/`` separates segments (on the wire, a ``/`` inside a
    segment is sent as ``%2F``, which is recognised).
    """
    if len(text) < 32:
        return []
    out: list[Span] = []
    if "%" in text or max(map(len, text.split("/"))) >= 32:  # 32 characters between slashes, or escapes
        for m in _SEGMENT_TOKEN_RE.finditer(text):
            if _is_secret(text, m.start(), unquote_plus(m.group()) if "%" in m.group() else m.group()):
                out.append(m.span())
    if "/" in text or "%" in text:
        for m in _SLASHED_TOKEN_RE.finditer(text):
            start, end = m.span()
            token = m.group()
            if "%" in token:
                token = unquote_plus(token)
            if "/" not in token or any(start <= a < end for a, _ in out):
                continue
            if _is_secret(text, start, token):
                out.append((start, end))
    return out


def _is_secret(text: str, start: int, token: str) -> bool:
    # A pipeline hash (``email:3f9a…``) is the scrubber's own output: scrubbing stays idempotent.
    return looks_random(token) and _HASH_PREFIX.search(text, max(0, start - 32), start) is None


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """A named PII pattern and what to do with what it finds.

    Parameters
    ----------
    name:
        Also the type prefix of hashes (``email:…``).
    regex:
        The pattern. If it has a group named ``value``, only that group is replaced (``Bearer [REDACTED]``).
    action:
        ``redact`` (replace by ``[REDACTED]``) or ``hash`` (keyed hash ``<name>:<32 hex>``).
    triggers:
        Lower-case substrings of which one must occur in the lower-cased text before the rule runs; empty
        means the rule always runs.
    min_digits:
        The rule runs only on texts holding at least this many digits.
    check:
        Decides whether a regex match really is one (e.g. Luhn); unused with ``finder``.
    finder:
        Instead of ``regex``: returns the spans to replace.

    Example
    -------
    >>> Rule("order_ref", r"ORD-\\d{8}", triggers=("ord-",)).name
    'order_ref'
    """

    name: str
    regex: str = ""
    action: str = "redact"
    triggers: tuple[str, ...] = ()
    min_digits: int = 0
    check: Callable[[re.Match[str]], bool] | None = None
    finder: Callable[[str], list[Span]] | None = None
    compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.action not in ("redact", "hash"):
            raise ConfigError(f"scrub rule {self.name!r}: action must be 'redact' or 'hash', got {self.action!r}")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", self.name):
            raise ConfigError(f"scrub rule name {self.name!r} must be 1-31 lower-case letters, digits or '_'")
        if self.finder is None:
            if not self.regex:
                raise ConfigError(f"scrub rule {self.name!r} needs a regex")
            try:
                compiled = re.compile(self.regex)
            except re.error as exc:
                raise ConfigError(f"scrub rule {self.name!r}: regex does not compile: {exc}") from None
            object.__setattr__(self, "compiled", compiled)
        object.__setattr__(self, "triggers", tuple(t.lower() for t in self.triggers))

    def spans(self, text: str) -> Iterable[Span]:
        """Where this rule's replacements go in ``text``."""
        if self.finder is not None:
            return self.finder(text)
        assert self.compiled is not None
        out: list[Span] = []
        has_value = "value" in self.compiled.groupindex
        for m in self.compiled.finditer(text):
            if m.end() == m.start():
                continue
            if self.check is None or self.check(m):
                out.append(m.span("value") if has_value else m.span())
        return out


DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "private_key",
        r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----(?:[^-]|-(?!----END))*+"
        r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----)?",
        triggers=("private key",),
    ),
    Rule("url_credentials", r"://(?P<value>[^/\s:@]++:[^/\s@]++)@", triggers=("://",)),
    Rule(
        "jwt",
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}+\.eyJ[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]*+",
        triggers=("eyj",),
    ),
    Rule(
        "bearer",
        r"(?i)(?<![A-Za-z0-9])bearer(?:\s|%20|\+)++(?P<value>[A-Za-z0-9._~+/=-]{8,}+)",
        triggers=("bearer",),
    ),
    Rule(
        "basic_auth",
        r"(?i)(?<![A-Za-z0-9])basic(?:\s|%20|\+)++(?P<value>[A-Za-z0-9+/]{8,}+={0,2})",
        triggers=("basic",),
    ),
    Rule(
        "known_token",
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}+|github_pat_[A-Za-z0-9_]{22,}+|xox[abprs]-[A-Za-z0-9-]{10,}+"
        r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}+|AIza[0-9A-Za-z_-]{35})",
        triggers=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "_live_", "_test_", "aiza"),
    ),
    Rule(
        "aws_access_key_id",
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        triggers=("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa", "abia", "acca"),
    ),
    # ``secret_pair`` is built by the Scrubber from its secret parameter names and inserted here.
    Rule("ssn", finder=find_ssns, min_digits=9, triggers=("-",)),
    Rule("card", finder=find_cards, min_digits=13),
    Rule("secret_token", finder=find_secret_tokens),
    Rule("email", finder=find_emails, action="hash", triggers=("@", "%40")),
)


def rules_from_settings(patterns: Iterable[dict[str, object]]) -> list[Rule]:
    """Rules from the ``LOGLAKE_SCRUB`` setting's ``patterns``: ``{"name", "regex", "action"}`` each.

    Raises
    ------
    ConfigError
        If an entry misses ``name`` or ``regex``, or has an unknown action or a regex that does not compile.
    """
    out = []
    for i, p in enumerate(patterns):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not isinstance(p.get("regex"), str):
            raise ConfigError(
                f"LOGLAKE_SCRUB.patterns[{i}] must be an object with 'name' and 'regex' (and optional 'action')"
            )
        out.append(Rule(str(p["name"]), str(p["regex"]), action=str(p.get("action", "redact"))))
    return out
