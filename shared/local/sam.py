"""`make sam`: the synthesized template's functions in Lambda runtime containers, behind `sam local start-api`.

1. The CDK app is synthesized as `make synth` does it, with context `architecture=x86_64` (the containers run on
   this machine's architecture; deployments stay arm64), into `.local/sam/cdk.out`.
2. A Lambda base image for the functions' runtime is built from Debian packages (a root filesystem by
   mmdebstrap) and PyPI's `awslambdaric`, unless the engine already holds one of the same recipe. It has a name
   of its own (local_name) and is also tagged where `sam local --skip-pull-image` looks for the runtime's image;
   its labels say what it is.
3. The local stack (`make run`: embedded DynamoDB, Typesense, stream and queue pollers, the demo account) starts
   as usual; its in-process gateway moves to a free port, the pollers keep feeding the indexer, the events
   function and the delivery worker.
4. `sam local start-api` serves the template's REST API on http://127.0.0.1:${SAM_PORT:-3000}: every request runs
   the authorizer and the route group's function from the built asset, in a container, through the Runtime
   Interface Emulator that SAM CLI bundles. The containers reach the stack's DynamoDB and Typesense on the
   gateway address of the engine's own bridge, where this process forwards them to the loopback ports.

The last line it prints is `READY {...}` (as the stack's), with the SAM endpoint as `baseUrl`.
"""

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from shared.local.stack import write_private
from shared.local.typesense import free_port

ROOT = Path(__file__).resolve().parents[2]
SAM = Path(sys.executable).parent.parent / "sam" / "bin" / "sam"
ARCHITECTURE = "x86_64"
# Debian suites whose python3 is the Lambda runtime's Python.
DEBIAN_SUITES = {"python3.13": "trixie"}
DEBIAN_MIRROR = "http://deb.debian.org/debian"
_DEBIAN_ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}
# The runtime interface client AWS's own Python base images use, and the SDK the Lambda runtime provides (the
# asset leaves boto3 out): the version this project's tests run with.
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", f"boto3=={metadata.version('boto3')}")
# What the emulator starts: the runtime interface client, on the handler the function names.
BOOTSTRAP = """#!/bin/sh
# Lambda's runtime contract, as AWS's Python images keep it: the code in /var/task, the runtime in /var/runtime.
cd "${{LAMBDA_TASK_ROOT:-/var/task}}"
export PYTHONPATH=/var/runtime
exec /usr/bin/{python} -m awslambdaric "${{_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}}"
"""
STARTUP_SECONDS = 600
log = logging.getLogger("sam")


def image_tag(runtime: str, architecture: str) -> str:
    """Where `sam local` (samcli.local.docker.lambda_image) looks for a zip function's base image:
    python3.13 on x86_64 is public.ecr.aws/lambda/python:3.13-x86_64."""
    if runtime not in DEBIAN_SUITES:
        raise ValueError(f"runtime {runtime!r} has no local base image; known: {sorted(DEBIAN_SUITES)}")
    return f"public.ecr.aws/lambda/python:{runtime.removeprefix('python')}-{architecture}"


def local_name(runtime: str, architecture: str) -> str:
    """The base image's own name, saying what it is; image_tag is only where `sam local` looks for it."""
    return f"crm-records-api/lambda-base:{runtime}-{architecture}-debian-{DEBIAN_SUITES[runtime]}"


def recipe(runtime: str, architecture: str) -> str:
    """A digest of everything the base image is built from: an image with the same label is reused."""
    parts = [local_name(runtime, architecture), DEBIAN_SUITES.get(runtime, ""), *RUNTIME_PACKAGES, BOOTSTRAP]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def ensure_base_image(runtime: str, architecture: str) -> str:
    """The runtime's base image, built unless the engine holds one of the same recipe."""
    tag = image_tag(runtime, architecture)
    wanted = recipe(runtime, architecture)
    inspected = subprocess.run(["docker", "image", "inspect", "--format",
                                '{{index .Config.Labels "org.crm-records-api.recipe"}}', tag],
                               capture_output=True, text=True)
    if inspected.returncode == 0 and inspected.stdout.strip() == wanted:
        log.info("base image %s is current (recipe %s)", tag, wanted)
        return tag
    if shutil.which("mmdebstrap") is None:
        raise SystemExit(f"building the base image {tag} needs mmdebstrap (Debian: apt-get install mmdebstrap)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lambda-rootfs-") as work:
        rootfs = Path(work) / "rootfs"
        python = f"python{runtime.removeprefix('python')}"
        subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", f"--include={python},ca-certificates",
                        f"--architectures={_DEBIAN_ARCHITECTURES[architecture]}",
                        DEBIAN_SUITES[runtime], str(rootfs), DEBIAN_MIRROR], check=True)
        # As the asset's dependencies are installed: wheels of the Lambda platform, for the runtime's Python.
        from infra.bundling import PIP_PLATFORMS, pip_install_command

        subprocess.run(pip_install_command(str(rootfs / "var/runtime"), runtime.removeprefix("python"),
                                           PIP_PLATFORMS[architecture], RUNTIME_PACKAGES), check=True)
        (rootfs / "var/task").mkdir(parents=True)
        bootstrap = rootfs / "var/runtime/bootstrap"
        bootstrap.write_text(BOOTSTRAP.format(python=python))
        bootstrap.chmod(0o755)
        labels = {
            "org.opencontainers.image.title": f"Local Lambda base image for {runtime} ({architecture})",
            "org.opencontainers.image.description": (
                f"Not an AWS image. Built by `make sam` of crm-records-api from Debian {DEBIAN_SUITES[runtime]} "
                f"packages ({python}) and PyPI ({', '.join(RUNTIME_PACKAGES)}); also tagged {tag} because that "
                "is where `sam local --skip-pull-image` looks for this runtime's image."),
            "org.crm-records-api.recipe": wanted,
        }
        changes = [f"LABEL {name}={json.dumps(value)}" for name, value in labels.items()]
        changes += ["ENV LAMBDA_TASK_ROOT=/var/task", "ENV LAMBDA_RUNTIME_DIR=/var/runtime", "ENV LANG=C.UTF-8",
                    "WORKDIR /var/task", 'ENTRYPOINT ["/var/runtime/bootstrap"]']
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        name = local_name(runtime, architecture)
        subprocess.run(["docker", "import", *(a for c in changes for a in ("--change", c)), "-", name],
                       stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise RuntimeError("tar of the base image's root filesystem failed")
        subprocess.run(["docker", "tag", name, tag], check=True)
    # `sam local` layers its emulator onto the base image once, as <repository>:<version>-rapid-<architecture>;
    # drop that layering of the previous base image so that it is made again from this one.
    repository, _, version = tag.partition(":")
    subprocess.run(["docker", "image", "rm", f"{repository}:{version.split('-')[0]}-rapid-{architecture}"],
                   capture_output=True)
    log.info("built base image %s in %.0f s", tag, time.monotonic() - started)
    return tag


def synthesize(out_dir: Path, architecture: str) -> Path:
    """`make synth`'s `cdk synth`, with context architecture=<architecture>, into out_dir; the template's path."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    shutil.rmtree(out_dir, ignore_errors=True)
    subprocess.run(["npx", "--yes", "aws-cdk@2", "synth", "--quiet", "-c", f"architecture={architecture}",
                    "--output", str(out_dir)], cwd=ROOT, env=env, check=True, stdout=sys.stderr)
    (template,) = out_dir.glob("*.template.json")
    return template


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {logical_id: resource for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function"}


def local_template(template_path: Path, variables: list[str]) -> Path:
    """A copy of the template, beside it (asset paths stay valid), with two changes for `sam local`:

    - every function also declares `variables`: `sam local` sets only the variables a function declares, and
      --env-vars gives their values;
    - the methods without authorization (the CORS preflights, the documentation) get an operation name of their
      own and come last. SAM CLI merges the methods of one path, function and operation name into one route that
      keeps the authorizer of the last method it read, and for each method and path serves the last route that
      has them: so GET /docs stays public while ANY /docs runs the authorizer, as API Gateway does it.
    """
    template = json.loads(template_path.read_text())
    for function in functions_of(template).values():
        declared = function["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
        for name in variables:
            declared.setdefault(name, "")

    def is_public_method(resource: dict[str, Any]) -> bool:
        return (resource["Type"] == "AWS::ApiGateway::Method"
                and resource["Properties"].get("AuthorizationType", "NONE") == "NONE")

    for resource in template["Resources"].values():
        if is_public_method(resource):
            resource["Properties"].setdefault("OperationName", "public")
    template["Resources"] = dict(sorted(template["Resources"].items(), key=lambda item: is_public_method(item[1])))
    copy = template_path.with_name(template_path.name.replace(".template.json", ".sam-local.template.json"))
    copy.write_text(json.dumps(template, indent=1))
    return copy


def bridge_gateway() -> str:
    """The gateway address of the engine's default bridge (the containers' way to this machine): as its IPAM
    configuration names it, else the first address of its subnet, which the engine gives its bridge."""
    inspected = subprocess.run(["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"],
                               capture_output=True, text=True, check=True)
    (config, *_) = json.loads(inspected.stdout)
    return config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])


class Forwarder:
    """Accepts on the bridge's gateway address and relays each connection to the same port on loopback,
    where the stack's servers listen."""

    def __init__(self, address: str, port: int) -> None:
        self._listener = socket.create_server((address, port))
        self._port = port

    def start(self) -> "Forwarder":
        threading.Thread(target=self._accept, name=f"forward-{self._port}", daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            try:
                upstream = socket.create_connection(("127.0.0.1", self._port))
            except OSError:
                client.close()
                continue
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_relay, args=(source, target), daemon=True).start()


def _relay(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def _read_ready(process: subprocess.Popen, lines: "queue.Queue[str]") -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_SECONDS
    while (remaining := deadline - time.monotonic()) > 0:
        line = lines.get(timeout=remaining)
        if line.startswith("READY "):
            return json.loads(line.removeprefix("READY "))
        if not line:
            break
    raise RuntimeError(f"the local stack did not start (exit code {process.poll()})")


def _drain(stream, lines: "queue.Queue[str]") -> None:
    for raw in stream:
        lines.put(raw.decode(errors="replace"))
    lines.put("")


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sam local start-api exited with code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"sam local start-api did not listen on port {port} within {timeout:.0f} s")


def remove_containers(assembly_dir: Path) -> None:
    """Remove the function containers left running from this assembly's assets (by their bind mounts)."""
    for asset in assembly_dir.glob("asset.*"):
        listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"volume={asset}"],
                                capture_output=True, text=True)
        if ids := listed.stdout.split():
            subprocess.run(["docker", "rm", "--force", *ids], capture_output=True)


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _stop)
    # The CDK's jsii runtime (the synthesis, the pip command of infra.bundling) warns about Node versions.
    os.environ.update({"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
                       "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20"})
    if not SAM.exists():
        raise SystemExit(f"{SAM} is missing: run `make sam` (it installs SAM CLI into its own virtualenv)")
    work_dir = Path(os.environ.get("LOCAL_DATA_DIR", ".local")).resolve() / "sam"
    port = int(os.environ.get("SAM_PORT", "3000"))
    started = time.monotonic()
    template_path = synthesize(work_dir / "cdk.out", ARCHITECTURE)
    functions = functions_of(json.loads(template_path.read_text()))
    (runtime,) = {f["Properties"]["Runtime"] for f in functions.values()}
    ensure_base_image(runtime, ARCHITECTURE)
    gateway_address = bridge_gateway()

    environment_file = work_dir / "functions.env.json"
    stack_env = os.environ | {"PORT": str(free_port()), "LOCAL_FUNCTION_ENVIRONMENT_FILE": str(environment_file)}
    children: list[subprocess.Popen] = []
    try:
        stack = subprocess.Popen([sys.executable, "-m", "shared.local.stack"], cwd=ROOT, env=stack_env,
                                 stdout=subprocess.PIPE)
        children.append(stack)
        stack_lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_drain, args=(stack.stdout, stack_lines), daemon=True).start()
        ready = _read_ready(stack, stack_lines)

        # What the in-process functions get, with the servers' loopback addresses seen from the containers.
        environment = json.loads(environment_file.read_text())
        ports = {int(value.rsplit(":", 1)[1].split("/")[0]) for name, value in environment.items()
                 if name.endswith(("_ENDPOINT_URL", "TYPESENSE_NODES"))}
        for forwarded in sorted(ports):
            Forwarder(gateway_address, forwarded).start()
        values = {name: value.replace("127.0.0.1", gateway_address) for name, value in environment.items()
                  if not name.startswith("AWS_")}
        env_vars = work_dir / "env-vars.json"
        write_private(env_vars, json.dumps({"Parameters": values}))
        sam_template = local_template(template_path, sorted(values))

        # SAM CLI hands its region and credentials to the containers.
        sam_env = os.environ | {name: environment[name] for name in
                                ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        sam_env["SAM_CLI_TELEMETRY"] = "0"
        sam = subprocess.Popen(
            [str(SAM), "local", "start-api", "--template-file", str(sam_template), "--env-vars", str(env_vars),
             "--host", "127.0.0.1", "--port", str(port), "--skip-pull-image", "--warm-containers", "EAGER"],
            cwd=template_path.parent, env=sam_env, stdout=sys.stderr,
        )
        children.append(sam)
        _wait_for_port(port, sam, STARTUP_SECONDS)
        base_url = f"http://127.0.0.1:{port}"
        print(f"\nCRM API (sam local start-api, {len(functions)} functions in {runtime} {ARCHITECTURE} containers) "
              f"on {base_url}, ready in {time.monotonic() - started:.0f} s\n"
              f"  local stack: gateway {ready['baseUrl']}, Typesense {ready['typesenseUrl']}\n"
              f"Demo admin token: {ready['token']}\n\n"
              f"READY {json.dumps(ready | {'baseUrl': base_url, 'gatewayUrl': ready['baseUrl']})}\n", flush=True)
        while all(child.poll() is None for child in children):
            _echo(stack_lines)
            time.sleep(0.5)
        raise SystemExit(f"a child exited: {[child.args[:3] for child in children if child.poll() is not None]}")
    except KeyboardInterrupt:
        pass
    finally:
        # SAM CLI removes its containers on an interrupt (Ctrl-C), not on SIGTERM.
        for child in reversed(children):
            child.send_signal(signal.SIGINT if child is not children[0] else signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        remove_containers(template_path.parent)


def _echo(lines: "queue.Queue[str]") -> None:
    """Pass on what the stack prints after its READY line."""
    while not lines.empty():
        sys.stdout.write(lines.get_nowait())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
