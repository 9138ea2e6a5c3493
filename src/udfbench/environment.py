"""Facts about the machine and the software a run used: the one place that collects them.

They go into meta.json so that two reports can say why they differ (another CPU, another pyspark).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from udfbench.errors import UserError

MIN_JAVA = 17
PACKAGES = (
    "udfbench",
    "pyspark",
    "pyarrow",
    "pandas",
    "numpy",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "pillow",
)


def java_version() -> tuple[int, str] | None:
    """(major version, first line of ``java -version``), or None when there is no java."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    return major, out.splitlines()[0] if out else ""


def check_java() -> str:
    """Fail with one actionable line unless Java 17+ is available (Spark 4 needs it)."""
    found = java_version()
    fix = "install a JDK 17 or newer (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    if found is None:
        raise UserError(f"Java not found; Spark needs it: {fix}", where="java")
    major, line = found
    if major < MIN_JAVA:
        raise UserError(f"Java {major} is too old, Spark 4 needs {MIN_JAVA}+: {fix}", where="java")
    return line


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    java = java_version()
    if java:
        found["java"] = java[1]
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


def _cpu_facts() -> dict[str, object]:
    """CPU model name, vendor, family, model, stepping and vector flags; None where the OS does not say.

    Values are /proc/cpuinfo's text: x86 fields, or their Arm counterparts (implementer, part, revision).
    """
    info = _cpuinfo()
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
        **_cpu_facts(),
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
