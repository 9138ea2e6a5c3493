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


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine() -> dict[str, object]:
    return {
        "cpu": _cpu_model(),
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
