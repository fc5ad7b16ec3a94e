"""What the one Lambda asset holds, read from the asset the session's synthesis actually bundled.

The asset's dependencies are arm64 wheels (pydantic_core is compiled), so the handlers cannot be
imported from it on this machine. Instead each handler's imports are followed statically, through
the project's own modules, and every module they reach must be a file of the asset.
"""

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.bundling import (
    EXCLUDED_NAMES,
    EXCLUDED_SUFFIXES,
    PROVIDED_BY_RUNTIME,
    ROOT,
    copy_sources,
    pip_install_command,
    runtime_dependencies,
)

from .helpers import resources

PROJECT_PACKAGES = ("functions", "shared")
LOCAL_ONLY = ("shared/local", "shared/admin_cli.py")


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path, module: str) -> Iterator[str]:
    """Every dotted name an import statement of the file may load, anywhere in the file (imports
    inside functions included). For `from package import name`, both the package and
    `package.name` (which is a module or not: the caller finds out)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _transitive_imports(entry_module: str) -> tuple[dict[str, Path], set[str]]:
    """The project modules an entry module loads, directly or not (with their parent packages), as
    files relative to the repository; and the top-level names of the other modules they import."""
    project: dict[str, Path] = {}
    others: set[str] = set()
    pending = [entry_module]
    while pending:
        module = pending.pop()
        if module in project:
            continue
        path = _module_file(ROOT, module)
        if path is None:
            continue  # `from package import name` where the name is not a module
        project[module] = path.relative_to(ROOT)
        parts = module.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]
        for name in _imported_names(path, module):
            top = name.split(".")[0]
            if top in PROJECT_PACKAGES:
                pending.append(name)
            elif top:
                others.add(top)
    return project, others


def _handler_modules(cfn) -> dict[str, str]:
    """Lambda handler string ("functions.records.handler.handler") -> its module, for every function."""
    handlers = [f["Properties"]["Handler"] for f in resources(cfn, "AWS::Lambda::Function").values()]
    return {handler: handler.rpartition(".")[0] for handler in handlers}


def _source_files(directory: Path, root: Path) -> set[str]:
    """Files under a directory, relative to root, less bytecode and caches."""
    return {
        p.relative_to(root).as_posix()
        for p in directory.rglob("*")
        if p.is_file()
        and not p.name.endswith(EXCLUDED_SUFFIXES)
        and not EXCLUDED_NAMES & set(p.relative_to(root).parts)
    }


def test_runtime_dependencies_are_the_projects_less_what_the_runtime_provides():
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]

    dependencies = runtime_dependencies()

    provided = ("boto3", "urllib3")
    assert not any(d.startswith(provided) for d in dependencies)
    assert set(dependencies) == {d for d in declared if not d.startswith(provided)}


def test_pip_installs_lambda_wheels_only():
    command = pip_install_command("/out", "3.13", "manylinux2014_aarch64", ["pydantic>=2"])

    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    for flag, value in [("--platform", "manylinux2014_aarch64"), ("--python-version", "3.13"),
                        ("--implementation", "cp"), ("--target", "/out")]:
        assert command[command.index(flag) + 1] == value
    assert "--only-binary=:all:" in command
    assert "--no-compile" in command
    assert command[-1] == "pydantic>=2"


def test_a_shipped_path_that_does_not_exist_stops_the_bundling(tmp_path):
    with pytest.raises(FileNotFoundError, match="shared/renamed.py"):
        copy_sources(tmp_path, shipped=("shared/renamed.py",))


def test_the_asset_leaves_out_the_local_stack_and_the_operator_cli(lambda_asset):
    shipped = _source_files(lambda_asset / "shared", lambda_asset)

    assert shipped, "the asset holds no shared/ code"
    assert not any(f == path or f.startswith(f"{path}/") for f in shipped for path in LOCAL_ONLY), sorted(shipped)
    assert not (lambda_asset / "shared" / "local").exists()
    assert not (lambda_asset / "shared" / "admin_cli.py").exists()


def test_the_asset_holds_all_of_functions_and_no_bytecode(lambda_asset):
    assert _source_files(lambda_asset / "functions", lambda_asset) == _source_files(ROOT / "functions", ROOT)
    handlers = sorted(ROOT.glob("functions/*/handler.py"))
    assert handlers
    for handler in handlers:
        assert (lambda_asset / handler.relative_to(ROOT)).is_file(), handler
    for directory in PROJECT_PACKAGES:
        bytecode = [p for p in (lambda_asset / directory).rglob("*")
                    if p.name in EXCLUDED_NAMES or p.name.endswith(EXCLUDED_SUFFIXES)]
        assert not bytecode, bytecode


def test_every_project_module_a_handler_imports_is_in_the_asset(cfn, lambda_asset):
    handler_modules = _handler_modules(cfn)
    assert len(handler_modules) >= 8

    for handler, module in sorted(handler_modules.items()):
        project_modules, _ = _transitive_imports(module)
        assert module in project_modules, f"{handler}: module {module} is not in the repository"
        # The resolver follows `from shared.logic import records` and the like into shared/.
        assert any(m.startswith("shared.") for m in project_modules), (handler, sorted(project_modules))
        missing = sorted(
            f"{name} ({path.as_posix()})"
            for name, path in project_modules.items()
            if not (lambda_asset / path).is_file()
        )
        assert not missing, (
            f"{handler} imports modules the Lambda asset does not hold: {missing}. "
            "Add them to SHIPPED_SOURCES in infra/bundling.py if they are runtime code."
        )


def test_the_asset_holds_the_third_party_modules_the_handlers_import_less_boto3(cfn, lambda_asset):
    imported: set[str] = set()
    for module in set(_handler_modules(cfn).values()):
        imported |= _transitive_imports(module)[1]
    third_party = {name for name in imported if name not in sys.stdlib_module_names}
    assert {"aws_lambda_powertools", "pydantic", "typesense"} <= third_party

    for name in sorted(third_party - PROVIDED_BY_RUNTIME):
        assert (lambda_asset / name).is_dir() or (lambda_asset / f"{name}.py").is_file(), f"{name} is not shipped"
    for name in sorted(PROVIDED_BY_RUNTIME):
        assert not (lambda_asset / name).exists(), f"{name} is shipped, though the Lambda runtime provides it"


def test_the_asset_holds_the_declared_dependencies_as_arm64_wheels(lambda_asset):
    def normalized(name: str) -> str:
        return re.sub(r"[-_.]+", "_", name).lower()

    distributions = {normalized(p.name.split("-")[0]) for p in lambda_asset.glob("*.dist-info")}
    declared = {normalized(re.match(r"\s*([A-Za-z0-9._-]+)", d).group(1)) for d in runtime_dependencies()}

    assert declared == {"aws_lambda_powertools", "httpx", "pydantic", "typesense"}
    assert declared <= distributions
    assert not {normalized(name) for name in PROVIDED_BY_RUNTIME} & distributions
    assert not (lambda_asset / "bin").exists()
    compiled = list((lambda_asset / "pydantic_core").glob("*.so"))
    assert compiled and all("aarch64" in p.name for p in compiled), compiled
