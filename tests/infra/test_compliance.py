"""cdk-nag, CloudFormation's own validation, cfn-lint and checkov's justifications, on every template."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cfnlint.api import ManualArgs, lint_file

#: Regions whose resource specs cfn-lint checks the template against.
LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
#: The one cfn-lint rule ignored, and only on Lambda functions: CDK adds a DependsOn on the function's role
#: although the Role property already orders them (W3005, "dependency already enforced").
CFN_LINT_IGNORED = {"AWS::Lambda::Function": ["W3005"]}


def _suppressions(synth: Any, tool: str, key: str) -> list[tuple[str, str, dict[str, str]]]:
    """(logical id, type, entry) of every cdk-nag or checkov suppression written into the template."""
    out = []
    for logical_id, resource in synth.template["Resources"].items():
        for entry in resource.get("Metadata", {}).get(tool, {}).get(key, []):
            out.append((logical_id, resource["Type"], entry))
    return out


def test_cdk_nag_and_cloudformation_validation_find_nothing(synth: Any) -> None:
    assert synth.violations == [], "\n".join(f"{p}: {r} at {c}" for p, r, c in synth.violations)
    assert synth.error is None


def test_cdk_nag_ran(synth: Any) -> None:
    """Acknowledgments reach the template only through cdk-nag's plugin: it was attached and ran."""
    ids = {entry["id"] for _, _, entry in _suppressions(synth, "cdk_nag", "rules_to_suppress")}
    assert {"AwsSolutions-S1", "AwsSolutions-SMG4"} <= ids


def test_every_acknowledgment_names_one_finding_on_one_resource_and_why(synth: Any) -> None:
    entries = _suppressions(synth, "cdk_nag", "rules_to_suppress")
    assert entries
    for logical_id, type_, entry in entries:
        assert re.fullmatch(r"AwsSolutions-[A-Z0-9]+(\[[A-Za-z]+::.+\])?", entry["id"]), entry
        if entry["id"].startswith("AwsSolutions-IAM5"):
            assert "[" in entry["id"], f"{logical_id}: IAM5 must be acknowledged finding by finding"
            assert type_ == "AWS::IAM::Policy"
        assert len(entry["reason"]) >= 60, f"{logical_id} {entry['id']}: the reason must explain itself"
    # Exactly these rules are acknowledged anywhere; a new one must be added here on purpose.
    rules = {re.sub(r"\[.*", "", e["id"]) for _, _, e in entries}
    expected = {"AwsSolutions-S1", "AwsSolutions-SMG4", "AwsSolutions-IAM5"}
    if synth.config.lambda_.python_version != "3.14":
        expected.add("AwsSolutions-L1")
    assert rules == expected


def test_wildcard_resources_are_prefixes_or_versions(synth: Any) -> None:
    for logical_id, _, entry in _suppressions(synth, "cdk_nag", "rules_to_suppress"):
        match = re.fullmatch(r"AwsSolutions-IAM5\[Resource::<(\w+)\.Arn>(.*)\]", entry["id"])
        if match:
            target, suffix = match.groups()
            assert target in synth.template["Resources"], logical_id
            assert suffix in {"/raw/*", "/errors/*", "/tables/*", "/quarantine/*", "/athena/*", ":*"}, suffix


def test_cfn_lint_finds_no_error_and_no_warning(synth: Any) -> None:
    (template,) = Path(synth.outdir).glob("*.template.json")
    matches = lint_file(template, config=ManualArgs(regions=LINT_REGIONS))
    assert [str(m) for m in matches] == []


def test_cfn_lint_ignores_only_the_documented_rule(synth: Any) -> None:
    for logical_id, resource in synth.template["Resources"].items():
        ignored = resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks")
        if ignored is not None:
            assert ignored == CFN_LINT_IGNORED.get(resource["Type"]), logical_id


def test_every_checkov_skip_carries_its_justification(synth: Any) -> None:
    skips = _suppressions(synth, "checkov", "skip")
    assert skips
    for logical_id, _, entry in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", entry["id"]), entry
        assert len(entry["comment"]) >= 60, f"{logical_id} {entry['id']}: the comment must explain itself"
