"""The Docker side of tests/test_compose.py: an engine (started here when none runs), the offline base
image, the wheelhouse, and a compose project that is always taken down, whatever its runner did."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = ROOT / "docker" / "wheelhouse"
# Debian 12's root filesystem with Python 3.11, Java 17 and procps: what docker/Dockerfile needs from
# a base, made with debootstrap because no image registry may be reachable. Kept between runs.
BASE_IMAGE = "udfbench-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,python3-pip,openjdk-17-jre-headless,procps"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
ENGINE_START_S = 60
CLUSTER = ("spark-master", "spark-worker-1", "spark-worker-2")


class NoEngine(Exception):
    """No Docker engine runs here and none can be started (or the base image cannot be made): the
    one line why, for pytest.skip."""


def _quiet(*command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def _answers() -> bool:
    try:
        return _quiet("docker", "info", timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@contextmanager
def docker_engine(log: Path) -> Iterator[None]:
    """A Docker engine that answers: the one that runs, else a ``dockerd`` started here (its output in
    ``log``) and stopped at the end."""
    if shutil.which("docker") is None:
        raise NoEngine("no docker command (Debian: apt-get install docker.io)")
    if _answers():
        yield
        return
    if shutil.which("dockerd") is None:
        raise NoEngine("no Docker engine runs and there is no dockerd to start (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise NoEngine("no Docker engine runs and starting dockerd needs root")
    with log.open("wb") as out:
        daemon = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + ENGINE_START_S
        while not _answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise NoEngine(f"dockerd did not start: {last[0]}")
            time.sleep(1)
        yield
    finally:
        daemon.terminate()  # dockerd stops the containerd it started
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (deb822 ``URIs:`` or one-line ``deb`` entries), which
    is the one known to be reachable from here; deb.debian.org where apt names none."""
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    entry = re.compile(r"^\s*(?:URIs:|deb(?:\s+\[[^\]]*\])?)\s+(\S+/debian)/?\s*(?:\s|$)", re.M)
    for path in files:
        if path.is_file():
            match = entry.search(path.read_text(errors="replace"))
            if match:
                return match[1]
    return DEFAULT_MIRROR


def base_image(work: Path) -> str:
    """``BASE_IMAGE``: reused where the engine has it, else debootstrap's root filesystem imported."""
    if _quiet("docker", "image", "inspect", BASE_IMAGE).returncode == 0:
        return BASE_IMAGE
    if shutil.which("debootstrap") is None:
        raise NoEngine(f"no {BASE_IMAGE} image and no debootstrap to make it (apt-get install debootstrap)")
    rootfs = work / "rootfs"
    try:
        made = _quiet(
            "debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs),
            debian_mirror(), timeout=1200,
        )  # fmt: skip
        assert made.returncode == 0, f"debootstrap failed:\n{made.stdout[-2000:]}{made.stderr[-2000:]}"
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "-", BASE_IMAGE], stdin=tar.stdout, capture_output=True, text=True
        )
        tar.wait()
        assert imported.returncode == 0, f"docker import failed: {imported.stderr}"
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return BASE_IMAGE


def fill_wheelhouse() -> None:
    """The project's dependencies as wheels in docker/wheelhouse (git-ignored), which the image installs
    with no network. A wheelhouse that has them all already is used as it is (pip with --no-index, no
    index asked); else pip fetches what is missing. The project is built from src/ in the image."""
    wheel = [sys.executable, "-m", "pip", "wheel", "-q"]
    wheel += ["-w", str(WHEELHOUSE), "--find-links", str(WHEELHOUSE)]
    for offline in (["--no-index"], []):
        made = subprocess.run([*wheel, *offline, str(ROOT), "setuptools"], capture_output=True, text=True,
                              timeout=1800)  # fmt: skip
        if made.returncode == 0:
            break
    assert made.returncode == 0, f"pip wheel failed:\n{made.stderr[-3000:]}"
    for built in WHEELHOUSE.glob("udfbench-*.whl"):
        built.unlink()


def compose_command() -> list[str]:
    """``docker compose`` (the v2 plugin the README names) where it is installed, else Debian's v1
    ``docker-compose``: the same arguments and the same file for both."""
    if _quiet("docker", "compose", "version").returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise NoEngine("neither `docker compose` nor docker-compose is installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ComposeRun:
    """What ``up`` did: the runner's exit code, everything up printed, the cluster's logs."""

    exit_code: int | None
    output: str
    cluster_logs: str

    def failure(self, lines: int = 40) -> str:
        """The runner's last lines, then the master's and the workers' logs."""
        tail = "\n".join(self.output.splitlines()[-lines:])
        return f"runner exited with {self.exit_code}; up's last {lines} lines:\n{tail}\n\n{self.cluster_logs}"


def run_compose(
    project: str, override: Path, base: str, log: Path, build: bool = True, timeout: float = 1800
) -> ComposeRun:
    """``up --build --abort-on-container-exit runner`` as the README says (``build=False``: without
    --build, which still builds an image that is not there), with ``override`` on top of
    docker-compose.yaml; then every container, network and volume of ``project`` is removed."""
    files = ["-f", str(ROOT / "docker-compose.yaml"), "-f", str(override)]
    compose = [*compose_command(), "-p", project, *files]
    env = os.environ | {"UDFBENCH_BASE": base, "UDFBENCH_UI_PORT": str(free_port())}

    def quiet(*args: str) -> str:
        result = subprocess.run([*compose, *args], capture_output=True, text=True, env=env, timeout=300)
        return result.stdout + result.stderr

    try:
        with log.open("w") as out:
            try:
                subprocess.run(
                    [*compose, "up", *(["--build"] if build else []), "--abort-on-container-exit", "runner"],
                    stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                out.write(f"\n(up ran past {timeout:g} s and was stopped)\n")
        runner = quiet("ps", "-q", "runner").strip()
        state = _quiet("docker", "inspect", "-f", "{{.State.ExitCode}}", runner) if runner else None
        exit_code = int(state.stdout) if state is not None and state.returncode == 0 else None
        cluster_logs = "" if exit_code == 0 else quiet("logs", "--no-color", "--tail", "60", *CLUSTER)
        return ComposeRun(exit_code, log.read_text(errors="replace"), cluster_logs)
    finally:
        quiet("down", "--volumes", "--remove-orphans", "--timeout", "10")
        # The image a rebuild left without a name (udfbench's only, by its label; gigabytes each).
        with suppress(subprocess.TimeoutExpired):
            _quiet("docker", "image", "prune", "--force", "--filter", "label=org.udfbench.image", timeout=600)


def leftovers(project: str) -> list[str]:
    """The containers, networks and volumes of ``project`` that are still there."""
    label = f"label=com.docker.compose.project={project}"
    found = []
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        listed = _quiet("docker", *kind, "-q", "--filter", label).stdout.split()
        found += [f"{kind[0]} {name}" for name in listed]
    return found
