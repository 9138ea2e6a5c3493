"""The udfbench command as a user runs it, for tests: a fresh interpreter, to its end or in the background."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path


def write_config(folder: Path, body: str) -> Path:
    """Write a bench.yaml into ``folder`` from an indented YAML string."""
    path = folder / "bench.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# TensorFlow's C++ start-up lines would bury what a test reads from stderr.
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def udfbench_command(*args: str, calibrate: bool = False) -> list[str]:
    """The udfbench command in a fresh interpreter. ``run`` skips its calibration (seconds of every
    core) unless ``calibrate``: the tests that are about the machine's limit ask for it, the shared
    real runs among them."""
    if args and args[0] == "run" and not calibrate:
        args = (*args, "--no-calibrate")
    return [sys.executable, "-m", "udfbench", *args]


def run_cli(
    *args: str,
    timeout: float = 600,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    calibrate: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the udfbench command as a user would (``env`` adds variables, or replaces QUIET's), to its end."""
    return subprocess.run(
        udfbench_command(*args, calibrate=calibrate),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **QUIET, **(env or {})},
    )


def start_run(config: Path, out: Path, capture: bool = True) -> subprocess.Popen[str]:
    """Start ``udfbench run`` in the background (no calibration), for a test that signals or kills
    it mid-run; ``capture`` keeps its stdout and stderr for ``communicate``."""
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        udfbench_command("run", str(config), "--out", str(out)),
        stdout=output,
        stderr=output,
        text=True,
        env=dict(os.environ, **QUIET),
    )


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def tiny_onnx(folder: Path) -> Path:
    """A tiny ONNX model in ``folder``, for runs whose subject is not the model: it loads in
    milliseconds where the built-in Keras CNN starts TensorFlow in every Python worker."""
    from tests.model.test_runtimes import pool_linear_softmax

    return pool_linear_softmax(folder / "tiny.onnx", size=16)


def with_tiny_onnx(config_text: str, folder: Path) -> str:
    """``config_text`` with the built-in CNN (``model: {image_size: 48}``) swapped for ``tiny_onnx``."""
    assert "model: {image_size: 48}" in config_text
    return config_text.replace("model: {image_size: 48}", f"model: {{path: {tiny_onnx(folder)}}}")
