"""Reading a synthesised template by meaning: references, statements, lists (never hashed logical ids)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def as_list(value: Any) -> list[Any]:
    """A CloudFormation "string or list" value as a list."""
    return value if isinstance(value, list) else [value]


def logical_id_of(value: Any) -> str:
    """The resource a ``Ref`` or ``Fn::GetAtt`` points at."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    raise AssertionError(f"{value!r} is not a reference to a resource")


def refs_in(value: Any) -> set[str]:
    """Every resource ``value`` refers to, however deeply nested (Fn::Join, Fn::Sub lists …)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and not str(value["Ref"]).startswith("AWS::"):
            found.add(str(value["Ref"]))
        if "Fn::GetAtt" in value:
            found.add(str(value["Fn::GetAtt"][0]))
        for v in value.values():
            found |= refs_in(v)
    elif isinstance(value, list):
        for v in value:
            found |= refs_in(v)
    return found


def policy_statements(synth: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every identity policy (IAM policies and roles' inline policies)."""
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, policy in synth.resources(type_).items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                yield logical_id, statement
    for logical_id, role in synth.resources("AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            for statement in inline["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def role_actions(synth: Any, role_id: str) -> dict[str, list[Any]]:
    """Action → resources granted to one role, across the policies attached to it."""
    granted: dict[str, list[Any]] = {}
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


def function_by_env(synth: Any, name: str) -> list[tuple[str, dict[str, Any]]]:
    """The functions whose POWERTOOLS_SERVICE_NAME is ``loglake-<name>``."""
    return [
        (k, f)
        for k, f in synth.resources("AWS::Lambda::Function").items()
        if f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == f"loglake-{name}"
    ]


def object_prefixes(arns: list[Any]) -> set[str]:
    """The key prefixes of object ARNs such as ``{"Fn::Join": ["", [<bucket arn>, "/raw/*"]]}`` ({"raw/"})."""
    found = set()
    for arn in arns:
        if isinstance(arn, dict) and "Fn::Join" in arn:
            last = arn["Fn::Join"][1][-1]
            if isinstance(last, str) and last.startswith("/") and last.endswith("*"):
                found.add(last[1:-1])
    return found
