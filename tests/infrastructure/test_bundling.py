"""What the one Lambda asset holds, checked without running pip."""

import sys

from infra.bundling import ROOT, copy_sources, pip_install_command, runtime_dependencies


def test_runtime_dependencies_are_the_projects_less_boto3():
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]

    dependencies = runtime_dependencies()

    assert not any(d.startswith("boto3") for d in dependencies)
    assert set(dependencies) == {d for d in declared if not d.startswith("boto3")}


def test_pip_installs_lambda_wheels_only():
    command = pip_install_command("/out", "3.13", "manylinux2014_aarch64", ["pydantic>=2"])

    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    for flag, value in [("--platform", "manylinux2014_aarch64"), ("--python-version", "3.13"),
                        ("--implementation", "cp"), ("--target", "/out")]:
        assert command[command.index(flag) + 1] == value
    assert "--only-binary=:all:" in command
    assert "--no-compile" in command
    assert command[-1] == "pydantic>=2"


def test_sources_leave_out_local_only_modules_and_bytecode(tmp_path):
    root = tmp_path / "repo"
    for relative in ("functions/records/handler.py", "shared/routes.py", "shared/local/stack.py",
                     "shared/admin_cli.py", "shared/__pycache__/routes.cpython-311.pyc", "tests/test_x.py",
                     "infra/app.py"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("")
    output = tmp_path / "asset"

    copy_sources(output, root)

    shipped = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file())
    assert shipped == ["functions/records/handler.py", "shared/routes.py"]
