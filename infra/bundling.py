"""The one Lambda code asset every function shares, built without Docker.

The asset holds exactly what SHIPPED_SOURCES names (all of `functions/`, and the runtime modules and
packages of `shared/`) and the runtime dependencies of pyproject.toml, installed by pip as wheels for
the Lambda platform. boto3 (with botocore and urllib3) is left to the Lambda runtime, which ships it.

It is an include list, not an exclusion list: code that serves only local development (the
emulator in `shared/local/`, the operator CLI `shared/admin_cli.py`, any such module added later)
stays out without anyone having to remember it, and a new module the functions import is shipped
only once it is added here (tests/infrastructure/test_bundling.py fails until it is).
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
# Paths (relative to ROOT) copied into the asset, each a file or a whole package. All of `functions/`
# is shipped (handlers and whatever files they serve); of `shared/`, only what the functions import.
# Not shipped: shared/local/ (the local stack) and shared/admin_cli.py (the operator's CLI).
SHIPPED_SOURCES = (
    "functions",
    "shared/__init__.py",
    "shared/aws_clients.py",
    "shared/conditional.py",
    "shared/errors.py",
    "shared/eventbus.py",
    "shared/http.py",
    "shared/idempotency.py",
    "shared/idempotent_answers.py",
    "shared/ids.py",
    "shared/logic",
    "shared/models",
    "shared/pagination.py",
    "shared/repository",
    "shared/request_budget.py",
    "shared/routes.py",
    "shared/search",
    "shared/secrets.py",
    "shared/settings.py",
    "shared/usage_plans.py",
    "shared/webhooks",
)
# Never copied, wherever they are found.
EXCLUDED_NAMES = frozenset({"__pycache__", ".pytest_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Dependencies the Lambda Python runtime already provides (urllib3 as botocore's own HTTP client).
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "urllib3"})
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


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


def copy_sources(output_dir: Path, root: Path = ROOT, shipped: Iterable[str] = SHIPPED_SOURCES) -> None:
    """Copy the shipped files and packages into the bundle, less bytecode and caches."""
    for relative in shipped:
        source, target = root / relative, output_dir / relative
        if source.is_dir():
            shutil.copytree(source, target, ignore=_ignored, dirs_exist_ok=True)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        else:
            raise FileNotFoundError(f"{relative} is listed in SHIPPED_SOURCES but is not in {root}")


def _ignored(_directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in EXCLUDED_NAMES or n.endswith(EXCLUDED_SUFFIXES)}


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
            local=LocalPythonBundling(python_version, PIP_PLATFORMS[architecture.name]),
        ),
    )
