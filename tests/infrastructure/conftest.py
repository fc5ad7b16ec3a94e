"""One synthesis of the CDK app for the whole session, with the real Lambda asset: it is bundled
as `make synth` bundles it (pip installs the runtime dependencies as arm64 wheels, a couple of
seconds), so test_bundling can inspect what is actually shipped."""

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The jsii runtime warns on every start about Node versions it no longer supports.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

TEST_CONTEXT = {
    # cdk-nag findings are reported by test_compliance instead of failing every test's fixture.
    "@aws-cdk/core:failSynthOnValidationErrors": False,
}


@dataclass(frozen=True)
class Synthesized:
    template: Any  # aws_cdk.assertions.Template
    json: dict[str, Any]
    assembly_dir: Path


@pytest.fixture(scope="session")
def synthesized() -> Iterator[Synthesized]:
    from aws_cdk.assertions import Template

    from infra.app import build_app

    app, stack = build_app(dict(TEST_CONTEXT))
    assembly = app.synth()
    template = Template.from_stack(stack)
    assembly_dir = Path(assembly.directory)
    yield Synthesized(template=template, json=template.to_json(), assembly_dir=assembly_dir)
    # The CDK wrote the assembly, asset included, to a temporary directory of its own: remove it
    # (unless CDK_OUTDIR chose where it goes).
    if "CDK_OUTDIR" not in os.environ:
        shutil.rmtree(assembly_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def template(synthesized: Synthesized):
    return synthesized.template


@pytest.fixture(scope="session")
def cfn(synthesized: Synthesized) -> dict[str, Any]:
    """The synthesized CloudFormation template as plain data."""
    return synthesized.json


@pytest.fixture(scope="session")
def lambda_asset(synthesized: Synthesized) -> Path:
    """The directory of the bundled code asset the functions are deployed from, as the CDK staged it."""
    functions = [r for r in synthesized.json["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    object_keys = {f["Properties"]["Code"]["S3Key"] for f in functions}
    assert len(object_keys) == 1, f"the functions do not share one asset: {object_keys}"
    asset_hash = object_keys.pop().removesuffix(".zip")
    (manifest,) = synthesized.assembly_dir.glob("*.assets.json")
    source = json.loads(manifest.read_text())["files"][asset_hash]["source"]
    assert source.get("packaging") == "zip", source
    asset = synthesized.assembly_dir / source["path"]
    assert asset.is_dir(), f"the code asset was not bundled into {asset}"
    return asset
