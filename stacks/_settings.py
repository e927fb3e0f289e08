"""Declaring settings once: defaults, bounds and docs on dataclass fields, and a reader that checks them.

:func:`setting` attaches the rules of one setting to a dataclass field; :class:`Reader` turns plain JSON-like
values into those frozen dataclasses, collecting every problem (with its path and how to fix it) instead of
stopping at the first; :func:`describe` lists every setting with its default for the documentation.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeGuard

from loglake.errors import ConfigError

_MISSING: Any = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    *,
    doc: str,
    factory: Callable[[], Any] | None = None,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    choices: tuple[Any, ...] | None = None,
    pattern: re.Pattern[str] | None = None,
    hint: str = "",
    check: Callable[[str], str | None] | None = None,
    non_empty: bool = False,
    per_service: bool = False,
    key: str | None = None,
) -> Any:
    """A dataclass field carrying the rules of one setting.

    ``lo``/``hi`` bound numbers (``lo_open`` makes ``lo`` exclusive); ``choices`` lists the allowed values;
    ``pattern`` and ``check`` (returns a problem or ``None``) validate text, and each item of a text list;
    ``per_service`` marks a mapping whose keys must be declared services; ``key`` is the JSON name when the
    attribute name differs (``lambda_`` ↔ ``lambda``).
    """
    meta = {
        "doc": doc,
        "lo": lo,
        "hi": hi,
        "lo_open": lo_open,
        "choices": choices,
        "pattern": pattern,
        "hint": hint,
        "check": check,
        "non_empty": non_empty,
        "per_service": per_service,
        "key": key,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def no_overrides() -> Mapping[str, Any]:
    """An empty, read-only per-service mapping (the default of every per-service section)."""
    return types.MappingProxyType({})


def merge_context(context: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The plain settings mapping: ``context[key]`` with every ``f"{key}.a.b"`` override applied.

    ``cdk synth -c`` passes values as text: ``context[key]`` may be a JSON object string, and override values
    are read as JSON when they are valid JSON (``3``, ``true``, ``["a"]``), else kept as text.
    """
    base = context.get(key) or {}
    if isinstance(base, str):
        try:
            base = json.loads(base)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"context '{key}' is not valid JSON ({exc}); pass a JSON object") from None
    if not isinstance(base, Mapping):
        raise ConfigError(f"context '{key}' must be a JSON object of settings, got {type(base).__name__}")
    merged: dict[str, Any] = json.loads(json.dumps(base))  # a deep, plain copy to edit
    prefix = f"{key}."
    for ctx_key in sorted(k for k in context if k.startswith(prefix)):
        parts = ctx_key[len(prefix) :].split(".")
        if not all(parts):
            raise ConfigError(f"context key '{ctx_key}' is not a setting path such as '{key}.retention.raw_days'")
        node = merged
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"context key '{ctx_key}': '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = _maybe_json(context[ctx_key])
    return merged


def _maybe_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value  # plain text, e.g. a service name


class SettingRow(NamedTuple):
    """One documented setting."""

    path: str
    default: str
    doc: str


def _json_key(f: dataclasses.Field[Any]) -> str:
    return f.metadata.get("key") or f.name


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not _MISSING:
        return f.default
    if callable(f.default_factory):
        return f.default_factory()
    return _MISSING


def _is_section(tp: Any) -> TypeGuard[type[Any]]:
    """Whether a field's type is itself a settings dataclass (a section or an item of a list)."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _plain(value: Any) -> Any:
    """A JSON-able view of a default (dataclasses as objects, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_json_key(f): _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _is_optional(tp: Any) -> tuple[bool, Any]:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return True, args[0]
    return False, tp


class Reader:
    """Reads plain values into settings dataclasses and collects every problem before raising once."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.services: tuple[str, ...] = ()

    def problem(self, message: str) -> None:
        """Record one problem; :meth:`raise_if_any` reports them all."""
        self.problems.append(message)

    def raise_if_any(self, context_key: str) -> None:
        """Raise one :class:`ConfigError` listing every recorded problem."""
        if self.problems:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            raise ConfigError(
                f"{len(self.problems)} invalid loglake setting(s) in cdk.json context '{context_key}' "
                f"(or a -c override):\n{lines}"
            )

    # ------------------------------------------------------------------ dataclasses

    def read(self, cls: type[Any], raw: Any, where: str, *, base: Any = None) -> Any:
        """An instance of ``cls`` from ``raw`` (a mapping); ``base`` supplies values ``raw`` leaves out.

        Returns ``None`` when a required setting is missing (already recorded as a problem).
        """
        fields = dataclasses.fields(cls)
        known = [_json_key(f) for f in fields]
        sec = self._section(raw, where, known)
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        complete = True
        for f in fields:
            key = _json_key(f)
            path = _join(where, key)
            fallback = getattr(base, f.name) if base is not None else _default_of(f)
            if key not in sec:
                if fallback is _MISSING:
                    self.problem(f"{path} is required: {f.metadata['doc']}")
                    complete = False
                    continue
                value = fallback
            else:
                value = self._value(hints[f.name], sec[key], path, f.metadata, fallback)
                if value is _MISSING:  # invalid and no default: reported, keep going
                    complete = False
                    continue
            if isinstance(value, dict):
                value = types.MappingProxyType(value)
            values[f.name] = value
            if where == "" and f.name == "services":
                self.services = value
        return cls(**values) if complete else None

    def _section(self, raw: Any, where: str, known: list[str]) -> Mapping[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.problem(f"{where or 'the settings'} must be an object of settings, got {type(raw).__name__}")
            return {}
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"known settings: {', '.join(known)}"
                self.problem(f"{_join(where, str(key))} is not a setting; {hint}")
        return raw

    # ------------------------------------------------------------------ values

    def _value(self, tp: Any, value: Any, path: str, meta: Mapping[str, Any], fallback: Any) -> Any:
        optional, tp = _is_optional(tp)
        if value is None:
            if optional:
                return None
            self.problem(f"{path} cannot be null: {meta['doc']}")
            return fallback
        origin = typing.get_origin(tp)
        if _is_section(tp):
            out = self.read(tp, value, path, base=fallback if isinstance(fallback, tp) else None)
            return fallback if out is None else out
        if origin is tuple:
            return self._list(typing.get_args(tp)[0], value, path, meta, fallback)
        if origin is Mapping and meta.get("per_service"):
            return self._per_service(typing.get_args(tp)[1], value, path, fallback)
        ok, expected = self._scalar_ok(tp, value)
        if not ok:
            self.problem(f"{path} must be {expected}, got {value!r}")
            return fallback
        if self._scalar_problem(value, path, meta):
            return fallback
        return float(value) if tp is float else value

    @staticmethod
    def _scalar_ok(tp: Any, value: Any) -> tuple[bool, str]:
        if tp is bool:
            return isinstance(value, bool), "true or false"
        if tp is int:
            return isinstance(value, int) and not isinstance(value, bool), "a whole number"
        if tp is float:
            return isinstance(value, int | float) and not isinstance(value, bool), "a number"
        if tp is str:
            return isinstance(value, str) and bool(value.strip()), "non-empty text"
        raise TypeError(f"no reader for settings of type {tp!r}")  # a declaration bug, not a user error

    def _scalar_problem(self, value: Any, path: str, meta: Mapping[str, Any]) -> bool:
        """Record a problem if ``value`` breaks its bounds, choices, pattern or check; say whether it did."""
        hint = f" ({meta['hint']})" if meta.get("hint") else ""
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            self.problem(f"{path} {value!r} is not one of {', '.join(map(str, choices))}")
            return True
        lo, hi = meta.get("lo"), meta.get("hi")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if meta.get("lo_open") and lo is not None and value <= lo:
                self.problem(f"{path} is {value!r}; it must be greater than {lo:g}{hint}")
                return True
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                if hi is None:
                    bound = f"at least {lo:g}"
                elif lo is None:
                    bound = f"at most {hi:g}"
                else:
                    bound = f"between {lo:g} and {hi:g}"
                self.problem(f"{path} is {value!r}; it must be {bound}{hint}")
                return True
        pattern = meta.get("pattern")
        if isinstance(value, str) and pattern is not None and not pattern.fullmatch(value):
            self.problem(f"{path} {value!r} is not valid; use {meta.get('hint') or pattern.pattern}")
            return True
        check = meta.get("check")
        if isinstance(value, str) and check is not None:
            why = check(value)
            if why:
                self.problem(f"{path}: {why}")
                return True
        return False

    def _list(self, item_tp: Any, value: Any, path: str, meta: Mapping[str, Any], fallback: Any) -> Any:
        if not isinstance(value, list):
            self.problem(f"{path} must be a list, got {type(value).__name__}")
            return fallback
        if meta.get("non_empty") and not value:
            self.problem(f"{path} must not be empty: {meta['doc']}")
            return fallback
        out: list[Any] = []
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            if _is_section(item_tp):
                read = self.read(item_tp, item, where)
                if read is not None:
                    out.append(read)
                continue
            ok, expected = self._scalar_ok(item_tp, item)
            if not ok:
                self.problem(f"{where} must be {expected}, got {item!r}")
            elif not self._scalar_problem(item, where, meta):
                if item in out:
                    self.problem(f"{where} {item!r} is listed twice; list it once")
                else:
                    out.append(item)
        return tuple(out)

    def _per_service(self, item_tp: Any, value: Any, path: str, fallback: Any) -> Any:
        if not isinstance(value, Mapping):
            self.problem(f"{path} must map service names to settings, got {type(value).__name__}")
            return fallback
        out: dict[str, Any] = {}
        for svc, raw in value.items():
            if svc not in self.services:
                self.problem(
                    f"{path}.{svc}: '{svc}' is not a declared service {list(self.services)}; "
                    "add it to services or fix the name"
                )
                continue
            read = self.read(item_tp, raw, f"{path}.{svc}")
            if read is not None:
                out[svc] = read
        return types.MappingProxyType(out)


def describe(cls: type[Any], where: str = "", base: Any = None, context: str = "") -> list[SettingRow]:
    """Every leaf setting of ``cls`` as ``(path, default as JSON, doc)``.

    Below the top-level sections, a leaf's doc starts with its parent's (``lambda.converter.memory_mb``:
    "Converter (raw/ to Parquet): memory …").
    """
    rows: list[SettingRow] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = _join(where, _json_key(f))
        default = getattr(base, f.name) if base is not None else _default_of(f)
        _, tp = _is_optional(hints[f.name])
        origin = typing.get_origin(tp)
        doc = f"{context}: {f.metadata['doc']}" if context else f.metadata["doc"]
        if _is_section(tp):
            nested_context = f.metadata["doc"].rstrip(".") if where else ""
            rows.extend(describe(tp, path, default if default is not _MISSING else None, nested_context))
        elif origin is Mapping:
            rows.extend(describe(typing.get_args(tp)[1], f"{path}.<service>", None))
        elif origin is tuple and _is_section(typing.get_args(tp)[0]):
            rows.append(SettingRow(path, json.dumps(_plain(default)), doc))
            rows.extend(describe(typing.get_args(tp)[0], f"{path}[]", None))
        else:
            shown = "required" if default is _MISSING else json.dumps(_plain(default))
            rows.append(SettingRow(path, shown, doc))
    return rows


def markdown_table(rows: list[SettingRow]) -> str:
    """The settings as the Markdown table of the deploy guide (one row per setting, in declaration order)."""
    lines = ["| Setting | Default | Meaning |", "|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row.path}` | `{row.default}` | {row.doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
