"""What the benchmark scripts share: running ``udfbench run`` as a user would, and reading its files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd


def run(folder: Path, name: str, config: str, *flags: str) -> Path:
    """Write ``config`` (YAML) as ``folder/name.yaml``, run it, and return its run folder."""
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(config))
    out = folder / name
    subprocess.run(
        [sys.executable, "-m", "udfbench", "run", str(path), "--out", str(out), *flags], check=True
    )
    return out


def summary(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "summary.csv")


def meta(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "meta.json").read_text())


def calibration_line(run_dir: Path) -> str:
    """The machine and its limit, to print beside every figure taken on it."""
    m = meta(run_dir)
    machine, c = m["machine"], m.get("calibration")
    vectors = ",".join(machine.get("cpu_vector_flags") or []) or "unknown"
    head = (
        f"machine: {machine['cpu']} (family {machine.get('cpu_family')}, model {machine.get('cpu_model')}), "
    )
    head += f"{machine['cores']} cores, vectors {vectors}"
    if not c:
        return head + "; not calibrated"
    predict = ", ".join(
        f"batch {b}: {ms:.2f}" for b, ms in sorted(c["predict_ms"].items(), key=lambda i: int(i[0]))
    )
    return (
        f"{head}\ncalibration: decode {c['decode_ms']:.2f} ms/image, predict ms/image {predict}; "
        f"{c['gflop_per_image'] or float('nan'):.3f} GFLOP/image; "
        f"limit {c['limit_images_per_s']:.1f} images/s"
    )
