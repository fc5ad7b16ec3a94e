"""One synthesis of the CDK app for the whole session, with Lambda bundling skipped (no pip run)."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The jsii runtime warns on every start about Node versions it no longer supports.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

TEST_CONTEXT = {
    # No stack is bundled: the code asset is not built, so no pip and no network.
    "aws:cdk:bundling-stacks": [],
    # cdk-nag findings are reported by test_compliance instead of failing every test's fixture.
    "@aws-cdk/core:failSynthOnValidationErrors": False,
}


@dataclass(frozen=True)
class Synthesized:
    template: Any  # aws_cdk.assertions.Template
    json: dict[str, Any]
    assembly_dir: Path


@pytest.fixture(scope="session")
def synthesized() -> Synthesized:
    from aws_cdk.assertions import Template

    from infra.app import build_app

    app, stack = build_app(dict(TEST_CONTEXT))
    assembly = app.synth()
    template = Template.from_stack(stack)
    return Synthesized(template=template, json=template.to_json(), assembly_dir=Path(assembly.directory))


@pytest.fixture(scope="session")
def template(synthesized: Synthesized):
    return synthesized.template


@pytest.fixture(scope="session")
def cfn(synthesized: Synthesized) -> dict[str, Any]:
    """The synthesized CloudFormation template as plain data."""
    return synthesized.json
