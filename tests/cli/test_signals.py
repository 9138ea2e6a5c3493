"""Whatever signal arrives, whenever it arrives, udfbench leaves no process of its own running.

Every process a run starts carries its mark (``spark.watchdog``): these tests find them by it, so
they see the driver JVM, its Python workers and the calibration's workers alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.commands import QUIET, udfbench_command, with_tiny_onnx, write_config
from udfbench.spark.watchdog import MARK_VARIABLE

CONFIG = """
    name: signals
    dataset: {sizes: [8], seed: 3}
    model: {image_size: 48}
    strategies: [STRATEGIES]
    batch_size: 4
    warmup: 1
    repeats: 1
    spark: {master: "local[2]", driver_memory: 1g}
"""


def marked(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process that udfbench ``pid`` started, by its mark."""
    mark = f"{MARK_VARIABLE}={pid}-".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if any(v.startswith(mark) for v in (entry / "environ").read_bytes().split(b"\0")):
                found.append(
                    (int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
                )
        except OSError:
            continue
    return found


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# What each phase's first process looks like: a calibration worker is a spawned multiprocessing child.
PHASES = {
    "calibration": ("python", "multiprocessing.spawn", True),
    "the driver JVM's start": ("pandas_udf", "SparkSubmit", False),
    "Ray's start": ("ray_map_batches", "raylet", False),
    "Daft's workers": ("daft_udf", "daft", False),
}


def start(tmp_path: Path, phase: str) -> tuple[subprocess.Popen, str]:
    strategy, looks_like, calibrate = PHASES[phase]
    # The tiny ONNX model: signals are the subject, not TensorFlow's start in every process.
    config = write_config(tmp_path, with_tiny_onnx(CONFIG.replace("STRATEGIES", strategy), tmp_path))
    process = subprocess.Popen(
        udfbench_command("run", str(config), "--out", str(tmp_path / "run"), calibrate=calibrate),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, **QUIET),
    )
    started = wait_for(lambda: any(looks_like in line for _, line in marked(process.pid)), 180)
    assert started, f"no {looks_like} process appeared"
    return process, looks_like


# Each signal where it used to leave something behind: Ctrl-C during the calibration hung on a worker at
# its barrier, SIGKILL there left its workers, and Ctrl-C during the driver JVM's start orphaned the JVM
# (SIGTERM goes through the same handler as Ctrl-C).
@pytest.mark.slow
@pytest.mark.parametrize(
    ("phase", "signum"),
    [
        ("calibration", signal.SIGINT),
        ("calibration", signal.SIGKILL),
        ("the driver JVM's start", signal.SIGINT),
        ("Ray's start", signal.SIGINT),
        ("Ray's start", signal.SIGKILL),
        ("Daft's workers", signal.SIGINT),
    ],
    ids=[
        "Ctrl-C during calibration",
        "SIGKILL during calibration",
        "Ctrl-C during the driver JVM's start",
        "Ctrl-C during Ray's start",
        "SIGKILL during Ray's start",
        "Ctrl-C among Daft's workers",
    ],
)
def test_a_signal_at_any_phase_leaves_no_process_behind(tmp_path: Path, phase: str, signum) -> None:
    process, _ = start(tmp_path, phase)
    time.sleep(0.5)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)  # never the hang of a worker left at a barrier
    if signum != signal.SIGKILL:  # a killed udfbench says nothing: only the watchdog is left to act
        assert process.returncode == 130, stderr[-2000:]
        assert "Traceback" not in stderr and f"finished cases kept in {tmp_path / 'run'}" in stderr
    assert wait_for(lambda: not marked(process.pid), 30), marked(process.pid)


def test_an_interrupt_handled_in_code_run_from_a_string_keeps_the_exit_status(tmp_path: Path) -> None:
    # A KeyboardInterrupt caught after it escaped code run from a string (as when Ctrl-C lands in
    # TensorFlow's import) made ``python -m udfbench`` die by SIGINT instead of exiting 130.
    (tmp_path / "interrupted").mkdir()
    (tmp_path / "interrupted" / "__main__.py").write_text(
        "import runpy\n"
        "import udfbench.cli\n"
        "verb = udfbench.cli.main\n"
        "def main():\n"
        "    status = verb()\n"
        "    try:\n"
        "        exec('raise KeyboardInterrupt', {})\n"
        "    except KeyboardInterrupt:\n"
        "        pass\n"
        "    return status\n"
        "udfbench.cli.main = main\n"
        "runpy.run_module('udfbench', run_name='__main__', alter_sys=True)\n"
    )
    config = write_config(tmp_path, CONFIG.replace("STRATEGIES", "python"))
    result = subprocess.run(
        [*udfbench_command()[:2], "interrupted", "validate", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, **QUIET),
        timeout=120,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
