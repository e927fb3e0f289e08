"""The PII corpus: each pattern planted in each position; none survives, every benign control does."""

from __future__ import annotations

import base64
import io
import json
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from loglake import quarantine
from loglake.metrics import MetricsSink
from loglake.settings import Settings
from loglake.transform import Transformer

#: name → (the secret as planted, text that must not appear in any output).
SECRETS: dict[str, tuple[str, str]] = {
    "email": ("jane.doe+shop@example.com", "jane.doe"),
    "email_encoded": ("mark%40example.org", "mark%40example"),
    "card_plain": ("4111111111111111", "4111111111111111"),
    "card_spaced": ("5555 5555 5555 4444", "5555 5555 5555 4444"),
    "card_dashed": ("3782-822463-10005", "822463"),
    "ssn": ("078-05-1120", "078-05-1120"),
    "jwt": ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.Zm9vYmFyYmF6cXV4MTIzNDU2", "Zm9vYmFyYmF6cXV4MTIzNDU2"),
    "aws_key_id": ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    "bearer": ("Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),
    "github_token": ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c6912E7710c838347Ae178B4a"),
    "hex_secret": (
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "9f86d081884c7d659a2feaa0c55ad015",
    ),
    "base64_secret": ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "bPxRfiCYEXAMPLEKEY"),
}
#: Secret-named parameters: their values (unremarkable on their own) must go.
SECRET_PARAMS = {"password": "hunter2pass", "api_key": "k-1234-abcd", "session": "sess-998877", "cvv": "737"}
BENIGN = {
    "query": "page=2&sort=price",
    "path": "/api/v1/products",
    "order": "order 4111111111111112",  # fails Luhn
    "ua": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5",
    "uuid": "5f0c6a1e-2b8e-4d9f-9a57-0d3c1b2a4e6f",
    "date": "2015-05-17",
}


def _positions(secret: str) -> list[dict[str, Any]]:
    """One event per position the secret can hide in."""
    base = {"timestamp": "2026-11-22T10:00:00.000Z", "service_name": "shop", "status_code": 500}
    # In a path, a '/' inside a segment travels URL-encoded (%2F); a raw one separates segments.
    segment = quote(secret, safe="@+ ") if "/" in secret else secret
    return [
        {**base, "path": f"/api/v1/users/{segment}/orders"},
        {**base, "path": "/search", "query_params": f"q={secret}&page=2"},
        {**base, "referer": f"https://shop.example.com/cb?next=/x&state={secret}"},
        {**base, "user_agent": f"curl/8.4 ({secret})"},
        {**base, "note": f"customer said {secret} on the phone"},
        {**base, "context": {"deep": [{"value": secret}]}},
        {**base, "extra": {"message": f"token={secret}"}},
        {**base, "headers": {"x-forwarded-user": secret}},
    ]


def _run(events: list[dict[str, Any]]) -> str:
    t = Transformer(
        Settings("file:///tmp/unused-lake"), hash_key=b"pii-corpus-key-0", sink=MetricsSink(stream=io.StringIO())
    )
    lines = [orjson.dumps(e) for e in events]
    # Also as raw lines that cannot be decoded: the quarantine must scrub them too.
    broken = [line[:-1] for line in lines]
    event = {
        "records": [
            {"recordId": str(i), "approximateArrivalTimestamp": 1_795_341_600_000, "data": base64.b64encode(p).decode()}
            for i, p in enumerate([b"\n".join(lines), b"\n".join(broken)])
        ]
    }
    out = b"".join(base64.b64decode(r["data"]) for r in t.transform(event)["records"]).decode()
    assert out.count(quarantine.MARKER) == len(broken)  # every broken line is quarantined, every event kept
    return out


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_planted_pattern_survives_in_no_position(name: str) -> None:
    planted, must_not_appear = SECRETS[name]
    out = _run(_positions(planted))
    # JSON escaping could hide a survivor behind "\\/" or "\\u0040": compare against the decoded text too.
    decoded = json.dumps([orjson.loads(x) for x in out.splitlines()], ensure_ascii=False).replace("\\/", "/")
    assert must_not_appear not in out and must_not_appear not in decoded
    assert quote(must_not_appear, safe="") not in out


@pytest.mark.parametrize(("param", "value"), sorted(SECRET_PARAMS.items()))
def test_secret_named_parameters_lose_their_values_everywhere(param: str, value: str) -> None:
    base = {"timestamp": "2026-11-22T10:00:00.000Z", "service_name": "shop", "status_code": 500}
    events = [
        {**base, "query_params": f"{param}={value}&page=2"},
        {**base, "referer": f"https://x.example/?{param.upper()}={value}"},
        {**base, param: value},
        {**base, "nested": {param: value}},
        {**base, "log": f"{param}: {value}"},
    ]
    out = _run(events)
    assert value not in out and param in out.lower()  # the name stays, the value goes


def test_benign_controls_all_survive() -> None:
    base = {"timestamp": "2026-11-22T10:00:00.000Z", "service_name": "shop", "status_code": 500}
    event = {
        **base,
        "path": BENIGN["path"],
        "query_params": BENIGN["query"],
        "user_agent": BENIGN["ua"],
        "note": BENIGN["order"],
        "order_id": BENIGN["uuid"],
        "day": BENIGN["date"],
    }
    t = Transformer(
        Settings("file:///tmp/unused-lake"), hash_key=b"pii-corpus-key-0", sink=MetricsSink(stream=io.StringIO())
    )
    record = {"recordId": "0", "approximateArrivalTimestamp": 1, "data": base64.b64encode(orjson.dumps(event)).decode()}
    (row,) = [
        orjson.loads(x) for x in base64.b64decode(t.transform({"records": [record]})["records"][0]["data"]).splitlines()
    ]
    assert (
        row["path"] == BENIGN["path"] and row["query_params"] == BENIGN["query"] and row["user_agent"] == BENIGN["ua"]
    )
    extra = json.loads(row["extra"])
    assert extra == {"note": BENIGN["order"], "order_id": BENIGN["uuid"], "day": BENIGN["date"]}
