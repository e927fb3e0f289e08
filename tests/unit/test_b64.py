"""Base64 of Firehose records: the fast codec decodes, refuses and encodes exactly as the standard library."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake import b64

pytest.importorskip("pybase64")


def outcome(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except Exception as exc:
        return type(exc), str(exc)


def same_as_std(value: str | bytes) -> None:
    assert outcome(b64.decode, value) == outcome(b64.decode_std, value)


def test_the_fast_codec_is_in_use_when_installed() -> None:
    assert b64.FAST
    assert b64.decode is not b64.decode_std and b64.encode_text is not b64.encode_text_std


@pytest.mark.parametrize(
    "value",
    [
        "",
        "eyJhIjogMX0=",
        b"eyJhIjogMX0=",
        "eyJhIjogMX0",  # padding missing
        "eyJhIjogMX1=",  # padding bits set: valid for binascii, not canonical
        "QR==",
        "QQ==",
        "QQ=",
        "QQ===",
        "=QQ=",
        "QQ==QQ==",  # data after padding
        "eyJh\nIjogMX0=",
        " eyJhIjogMX0=",
        "eyJhIjogMX0=\n",
        "eyJh-jogMX0=",  # the URL-safe alphabet
        "eyJh_jogMX0=",
        "ey Jh",
        "éyJhIjogMX0=",  # not ASCII
        "A",
        "AB",
        "ABC",
        "ABCD",
    ],
)
def test_edge_inputs_decode_or_fail_as_the_standard_library(value: str | bytes) -> None:
    same_as_std(value)
    if isinstance(value, str):
        same_as_std(value.encode("utf-8"))


def test_a_str_subclass_is_decoded_as_its_text() -> None:
    class Text(str):
        pass

    same_as_std(Text("eyJhIjogMX0="))
    assert b64.decode(Text("eyJhIjogMX0=")) == b'{"a": 1}'


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_canonical_base64_decodes_to_its_bytes(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    assert b64.decode(text) == data == b64.decode(text.encode())
    assert b64.encode_text(data) == text == b64.encode_text_std(data)


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@given(st.text(alphabet=_ALPHABET + "=-_ \n\r\t.é", max_size=40))
@settings(max_examples=1000)
def test_any_text_decodes_or_fails_as_the_standard_library(value: str) -> None:
    same_as_std(value)
    same_as_std(value.encode("utf-8"))


@given(
    # short records, and records around the length where the fast decoder starts validating first
    st.binary(min_size=1, max_size=60) | st.binary(min_size=590, max_size=610),
    st.integers(0, 1000),
    st.sampled_from([*_ALPHABET[:8], "=", "\n", "!", "é"]),
)
@settings(max_examples=500)
def test_damaged_base64_decodes_or_fails_as_the_standard_library(data: bytes, at: int, char: str) -> None:
    text = base64.b64encode(data).decode()
    at %= len(text) + 1
    for damaged in (text[:at] + char + text[at:], text[:at] + char + text[at + 1 :], text[:at]):
        same_as_std(damaged)
