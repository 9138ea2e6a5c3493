"""docker-compose.yaml, validated by a real compose parser (no Docker engine runs here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from udfbench.config import load_config
from udfbench.standalone import MASTER_CLASS, WORKER_CLASS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("no docker-compose parser installed (.ci/run installs Debian's docker-compose)")
    result = subprocess.run(
        [tool, "-f", str(ROOT / "docker-compose.yaml"), "config"], capture_output=True, text=True, timeout=120
    )
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


def test_the_image_has_the_python_of_the_project() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile and "openjdk-17" in dockerfile and "pip install" in dockerfile
