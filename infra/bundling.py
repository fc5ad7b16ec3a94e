"""The one Lambda code asset every function shares, built without Docker.

The asset holds `functions/`, `shared/` (less the local-only modules) and the runtime dependencies
of pyproject.toml, installed by pip as wheels for the Lambda platform. boto3 is left to the Lambda
runtime, which ships it.
"""

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("functions", "shared")
# Paths (relative to ROOT) that serve only local development: never shipped.
EXCLUDED_PATHS = frozenset({"shared/local", "shared/admin_cli.py"})
EXCLUDED_NAMES = frozenset({"__pycache__", ".pytest_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Dependencies the Lambda Python runtime already provides.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})
_PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


def runtime_dependencies(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The `[project].dependencies` requirement strings, less those the runtime provides."""
    requirements = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [r for r in requirements if _distribution_name(r) not in PROVIDED_BY_RUNTIME]


def _distribution_name(requirement: str) -> str:
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if found is None:
        raise ValueError(f"cannot read the package name of requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", found.group(1)).lower()


def pip_install_command(target: str, python_version: str, platform: str, requirements: Iterable[str]) -> list[str]:
    """pip, run by the synthesizing interpreter, installing wheels for the Lambda platform."""
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile",
        "--platform", platform, "--only-binary=:all:",
        "--python-version", python_version, "--implementation", "cp",
        "--target", target,
        *requirements,
    ]


def copy_sources(output_dir: Path, root: Path = ROOT) -> None:
    """Copy the source packages into the bundle, leaving out local-only modules and bytecode."""
    for name in SOURCE_DIRS:
        shutil.copytree(root / name, output_dir / name, ignore=_ignored(root), dirs_exist_ok=True)


def _ignored(root: Path):
    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).resolve().relative_to(root.resolve())
        return {
            n for n in names
            if n in EXCLUDED_NAMES or n.endswith(EXCLUDED_SUFFIXES) or (relative / n).as_posix() in EXCLUDED_PATHS
        }

    return ignore


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    """Builds the asset on this machine: pip (wheels only, for the target platform) plus a copy."""

    def __init__(self, python_version: str, platform: str) -> None:
        self._python_version = python_version
        self._platform = platform

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: object) -> bool:
        # Never answer False: that would make the CDK fall back to Docker bundling, which this
        # project does not use. A failing pip raises and stops the synthesis with its message.
        subprocess.run(
            pip_install_command(output_dir, self._python_version, self._platform, runtime_dependencies()),
            check=True,
        )
        # Console scripts of the dependencies are of no use in a function.
        shutil.rmtree(Path(output_dir) / "bin", ignore_errors=True)
        copy_sources(Path(output_dir))
        return True


def lambda_code(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> lambda_.Code:
    """One Code object: the functions of a stack that use it share a single asset."""
    python_version = runtime.name.removeprefix("python")
    return lambda_.Code.from_asset(
        str(ROOT),
        # Hash what is shipped, not the repository: unchanged sources and dependencies keep the
        # asset (and the functions) unchanged between deployments.
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Required by the API; used only if local bundling declined, which it never does.
            image=runtime.bundling_image,
            local=LocalPythonBundling(python_version, _PIP_PLATFORMS[architecture.name]),
        ),
    )
