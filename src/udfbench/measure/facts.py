"""Facts about the machine and the software a run used: the one place that collects them.

They go into meta.json so that two reports can say why they differ (another CPU, another pyspark).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from udfbench.errors import UserError
from udfbench.rundir.schema import PACKAGES
from udfbench.spark.java import find_java


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    try:
        java = find_java()
    except UserError:  # a run of driver-only strategies needs no Java
        return found
    found["java"] = java.line
    found["java_path"] = str(java.command)
    return found


# The vector extensions the math libraries (oneDNN, Eigen, MLAS) pick their kernels by: two machines "of
# one kind" that differ here run the same model at different speeds.
VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",  # Arm: NEON, its dot products, SVE and the matrix-multiply extensions
    "asimddp",
    "sve",
    "sve2",
    "i8mm",
    "bf16",
)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def cpu_facts(info: Mapping[str, str]) -> dict[str, object]:
    """CPU model name, vendor, family, model, stepping and vector flags from /proc/cpuinfo's fields
    (``info``); None where the OS does not say. Values are the file's text: x86 fields, or their Arm
    counterparts (implementer, part, revision).
    """
    listed = info.get("flags", info.get("Features"))
    flags = set(listed.split()) if listed is not None else None
    return {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_vendor": info.get("vendor_id", info.get("CPU implementer")),
        "cpu_family": info.get("cpu family", info.get("CPU architecture")),
        "cpu_model": info.get("model", info.get("CPU part")),
        "cpu_stepping": info.get("stepping", info.get("CPU revision")),
        "cpu_vector_flags": [f for f in VECTOR_FLAGS if f in flags] if flags is not None else None,
    }


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine() -> dict[str, object]:
    return {
        **cpu_facts(_cpuinfo()),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "hostname": platform.node(),
        "python_executable": sys.executable,
    }


def git_commit() -> str | None:
    """The commit of the udfbench checkout, when it runs from one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
