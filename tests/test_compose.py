"""docker-compose.yaml: parsed by a real compose parser, and run for real where a Docker engine can start."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.compose_cluster import (
    CLUSTER,
    NoEngine,
    base_image,
    debian_mirror,
    docker_engine,
    fill_wheelhouse,
    leftovers,
    run_compose,
)
from udfbench.plan.config import load_config
from udfbench.plan.names import DRIVER_ONLY
from udfbench.rundir.files import read_meta, read_parity, read_results
from udfbench.spark.standalone import MASTER_CLASS, WORKER_CLASS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("no docker-compose parser installed (.ci/run installs Debian's docker-compose)")
    # The file as a user gets it: the defaults of its variables, whatever this shell sets.
    env = {k: v for k, v in os.environ.items() if not k.startswith("UDFBENCH_")}
    result = subprocess.run(
        [tool, "-f", str(ROOT / "docker-compose.yaml"), "config"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_master_two_workers_and_a_runner_from_one_image(compose) -> None:
    services = compose["services"]
    assert set(services) == {"spark-master", "spark-worker-1", "spark-worker-2", "runner"}
    # One image everywhere: the executors run the driver's Python, pyspark and TensorFlow.
    assert {s["image"] for s in services.values()} == {"udfbench:latest"}
    assert {s["build"]["dockerfile"] for s in services.values()} == {"docker/Dockerfile"}
    assert MASTER_CLASS in services["spark-master"]["command"]


@pytest.mark.parametrize("name", ["spark-worker-1", "spark-worker-2"])
def test_workers_have_2_cores_and_2_gb_like_the_founding_study(compose, name) -> None:
    command = compose["services"][name]["command"]
    assert WORKER_CLASS in command  # the same daemon that `kind: standalone` starts
    assert command[command.index("--cores") + 1] == "2" and command[command.index("--memory") + 1] == "2g"
    assert command[-1] == "spark://spark-master:7077"


def test_runner_shares_the_reports_volume_and_runs_a_valid_config(compose) -> None:
    volumes = {tuple(v.split(":")[:2]) for s in compose["services"].values() for v in s["volumes"]}
    assert {target for _, target in volumes} == {"/data/reports"}
    runner = compose["services"]["runner"]
    assert runner["command"][:2] == ["udfbench", "run"]
    config = load_config(ROOT / runner["command"][2])
    assert config.output_dir == "/data/reports"
    (cluster,) = config.cluster_list()
    assert cluster.kind == "external" and cluster.master == "spark://spark-master:7077"


def test_the_image_builds_on_any_base_with_its_paths_its_own(compose) -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    # python:3.11-slim by default; the base is a build argument (the compose test's is offline).
    assert "ARG BASE=python:3.11-slim" in dockerfile and "FROM ${BASE}" in dockerfile
    assert {s["build"]["args"]["BASE"] for s in compose["services"].values()} == {"python:3.11-slim"}
    # Java from apt where the base has none; the project in /opt/venv, from a wheelhouse when one is there.
    assert "default-jre-headless" in dockerfile and "venv /opt/venv" in dockerfile
    assert "PIP_NO_INDEX=1 PIP_FIND_LINKS=/tmp/wheelhouse" in dockerfile
    # Spark's home is a fixed path whatever the base's Python: the compose file starts its daemons there.
    assert "/opt/spark" in dockerfile and "SPARK_HOME=/opt/spark" in dockerfile
    commands = [compose["services"][name]["command"][0] for name in ("spark-master", "spark-worker-1")]
    assert commands == ["/opt/spark/bin/spark-class"] * 2


# The real cluster: tests/compose_cluster.py starts an engine where it can, builds the image offline
# and runs `up --build --abort-on-container-exit runner` at a small size. .ci/run runs these in their
# own step (-m docker) after the suite.
SIZE = 16
STRATEGIES = ("python", "udf", "pandas_udf", "map_in_arrow")  # examples/compose.yaml's


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[str]:
    """The engine (started here if none runs, stopped after the module), the offline base image and a
    filled wheelhouse; skips, with the reason, where there can be no engine."""
    work = tmp_path_factory.mktemp("docker")
    try:
        with docker_engine(work / "dockerd.log"):
            started = time.monotonic()
            image = base_image(work)
            print(f"base image {image}: {time.monotonic() - started:.0f} s")
            started = time.monotonic()
            fill_wheelhouse()
            print(f"wheelhouse: {time.monotonic() - started:.0f} s")
            yield image
    except NoEngine as reason:
        pytest.skip(str(reason))


def override(folder: Path, runner_command: list[str]) -> Path:
    """A compose file over docker-compose.yaml: the shared volume in ``folder`` and the runner's command."""
    reports = folder / "reports"
    reports.mkdir()
    shared = {"volumes": [f"{reports}:/data/reports"]}
    services = {name: shared for name in CLUSTER} | {"runner": shared | {"command": runner_command}}
    path = folder / "override.yaml"
    path.write_text(yaml.safe_dump({"services": services}))
    return path


@pytest.mark.slow
@pytest.mark.docker
def test_the_founding_studys_cluster_in_containers_measures_every_row(base, tmp_path) -> None:
    project = f"udfbenchtest{os.getpid()}"
    command = ["udfbench", "run", "examples/compose.yaml", "--sizes", str(SIZE), "--repeats", "1",
               "--warmup", "1", "--no-calibrate", "--out", "/data/reports/compose-test"]  # fmt: skip
    started = time.monotonic()
    run = run_compose(project, override(tmp_path, command), base, tmp_path / "up.log")
    print(f"compose up (build and run): {time.monotonic() - started:.0f} s")
    assert run.exit_code == 0, run.failure()  # the runner's last lines and the cluster's logs
    assert leftovers(project) == []
    assert "complete: results in /data/reports/compose-test" in run.output  # what the README shows

    folder = tmp_path / "reports" / "compose-test"
    results = read_results(folder)
    measured = results[~results["warmup"].astype(bool)]
    assert sorted(measured["strategy"]) == sorted(STRATEGIES)
    assert set(measured["status"]) == {"ok"} and set(measured["rows"]) == {SIZE}
    # Two workers of 2 cores: the Spark strategies' executors had 4 cores; the driver loop runs alone.
    spark = measured[~measured["strategy"].isin(DRIVER_ONLY)]
    assert set(spark["cores"]) == {4}
    parity = read_parity(folder)
    assert sorted(parity["strategy"]) == sorted(STRATEGIES) and set(parity["status"]) == {"ok"}
    assert read_meta(folder).status == "complete"


@pytest.mark.slow
@pytest.mark.docker
def test_a_failing_runner_shows_its_last_lines_and_the_clusters_logs_and_leaves_nothing(
    base, tmp_path
) -> None:
    project = f"udfbenchfail{os.getpid()}"
    runner = ["udfbench", "run", "no-such.yaml"]
    # The image is the one the test above built (or, run alone, one that up builds as it is missing).
    run = run_compose(project, override(tmp_path, runner), base, tmp_path / "up.log", build=False)
    assert leftovers(project) == []
    assert run.exit_code not in (0, None)
    report = run.failure()
    assert "no-such.yaml" in report  # the runner's own message, among up's last lines
    # The master was healthy before the runner started; the workers' logs are there by name.
    assert "Starting Spark master at spark://spark-master:7077" in report
    assert "spark-worker-1" in run.cluster_logs and "spark-worker-2" in run.cluster_logs


def test_the_base_image_comes_from_the_mirror_apt_uses(tmp_path) -> None:
    assert debian_mirror(tmp_path) == "http://deb.debian.org/debian"  # apt names none: Debian's own
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert debian_mirror(tmp_path) == "http://other.example/debian"
