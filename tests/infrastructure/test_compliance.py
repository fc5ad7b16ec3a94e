"""cdk-nag (AwsSolutions) and cfn-lint both accept the synthesized template."""

import json

import pytest

# W3005: CDK makes each function depend on its role and the role's policy explicitly, so the
# function never starts without its permissions; cfn-lint notes the dependency is also implied.
IGNORED_CFN_LINT_RULES = ["W3005"]


def test_cdk_nag_reports_no_unacknowledged_finding(synthesized):
    report = json.loads((synthesized.assembly_dir / "validation-report.json").read_text())

    findings = [
        f"{v['ruleName']} ({v['severity']}): {c['constructPath']}"
        for plugin in report["pluginReports"]
        for v in plugin["violations"]
        for c in v["violatingConstructs"]
    ]

    assert findings == []


def test_cdk_nag_ran_and_every_acknowledgement_has_a_reason(cfn):
    acknowledged = [
        rule
        for resource in cfn["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]

    assert acknowledged, "cdk-nag wrote no acknowledgements: did the AwsSolutions checks run?"
    for rule in acknowledged:
        assert rule["id"].startswith("AwsSolutions-")
        assert rule["reason"].strip().endswith("."), rule


def test_cfn_lint_accepts_the_template(cfn):
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint is not installed (pip install -e '.[dev]')")

    matches = api.lint(
        json.dumps(cfn),
        config=api.ManualArgs(regions=["us-east-1"], ignore_checks=IGNORED_CFN_LINT_RULES),
    )

    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches] == []
