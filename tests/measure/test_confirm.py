"""``check --confirm``: a regression is rerun before it fails the check, and only one the reruns
reproduce does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.commands import run_cli, write_config
from tests.rundirs import result_row
from udfbench.analysis.check import CheckResult, Options, Verdict, after_reruns
from udfbench.analysis.summary import case_summaries
from udfbench.rundir.files import read_result_rows, rows_frame
from udfbench.rundir.identity import measured_runs
from udfbench.rundir.schema import RESULTS_FILE, ResultRow
from udfbench.rundir.writers import CsvAppender


def result(*verdicts: Verdict) -> CheckResult:
    return CheckResult("current", "baseline", Options(), list(verdicts), [], [], [])


def test_only_regressions_the_reruns_reproduce_survive() -> None:
    first = result(
        Verdict("a", "time", "regression", 0.1, ratio=2.0),
        Verdict("b", "time", "regression", 0.1, ratio=2.0),
        Verdict("c", "time", "regression", 0.1, ratio=2.0),
        Verdict("d", "time", "regression", 0.1, ratio=2.0),
        Verdict("e", "time", "unchanged", 0.1, ratio=1.0),
    )
    reruns = result(
        Verdict("a", "time", "regression", 0.1, ratio=1.9),
        Verdict("b", "time", "unchanged", 0.1, ratio=1.02),
        # Too few reruns to judge: still slow, the regression stands; not slow, it is dismissed.
        Verdict("c", "time", "undecided", 0.1, ratio=1.8, undecided_because="few repeats"),
        Verdict("d", "time", "undecided", 0.1, ratio=1.01, undecided_because="few repeats"),
    )
    judged = after_reruns(first, reruns, 3)
    assert [v.status for v in judged.verdicts] == [
        "regression",
        "unconfirmed",
        "regression",
        "unconfirmed",
        "unchanged",
    ]
    assert judged.verdicts[0].note == "confirmed by 3 reruns (regression, ratio 1.900)"
    assert judged.verdicts[1].note == "not confirmed by 3 reruns (unchanged, ratio 1.020)"
    assert judged.verdicts[0].ratio == 2.0  # the verdict keeps the first runs' figures
    assert judged.exit_status() == 1 and result(*judged.verdicts[1::2]).exit_status() == 0


def test_busy_reruns_cannot_dismiss_a_slowdown_and_noisy_ones_dismiss_as_unchanged_ones_do() -> None:
    first = result(*(Verdict(name, "time", "regression", 0.1, ratio=2.0) for name in "abc"))
    reruns = result(
        Verdict("a", "time", "undecided", 0.1, ratio=1.9, undecided_because="busy"),
        Verdict("b", "time", "undecided", 0.1, ratio=1.0, undecided_because="busy"),
        Verdict("c", "time", "undecided", 0.1, ratio=1.3, undecided_because="noisy"),
    )
    assert [v.status for v in after_reruns(first, reruns, 5).verdicts] == [
        "regression",
        "unconfirmed",
        "unconfirmed",
    ]


def test_reruns_with_nothing_to_judge_leave_the_regression_standing_and_say_so() -> None:
    first = result(Verdict("a", "time", "regression", 0.1, ratio=2.0))
    reruns = result(Verdict("a", "time", "undecided", 0.1, note="every rerun failed"))
    judged = after_reruns(first, reruns, 2)
    assert judged.verdicts[0].status == "regression"
    assert judged.verdicts[0].note == "the 2 reruns could not tell (undecided: every rerun failed)"


def scaled_copy(run: Path, to: Path, factor: float) -> Path:
    """A copy of a run folder whose every time is ``factor`` times the measured one, measured as if on
    a quiet machine: the CPU other processes took is written as 0, so that the verdict on these rows
    never depends on this machine's load (the busy rule would answer before ``--confirm`` runs)."""
    shutil.copytree(run, to)
    out = CsvAppender(to / RESULTS_FILE, ResultRow)
    for row in read_result_rows(run):
        scaled = {"seconds": row.seconds * factor, "images_per_s": row.images_per_s / factor}
        out.append(row.model_copy(update=scaled | {"foreign_cpu_pct": 0.0}))
    out.close()
    return to


@pytest.mark.slow
def test_a_noisy_regression_is_dismissed_and_a_real_one_confirmed(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        dataset: {sizes: [32]}
        model: {image_size: 48}
        strategies: [python]
        batch_size: 4
        warmup: 1
        repeats: 5
        """,
    )
    made = run_cli("run", str(config), "--out", str(tmp_path / "measured"))
    assert made.returncode == 0, made.stderr[-2000:]
    # The checks judge copies whose rows say that no other process took the CPU, so the busy rule
    # never answers before --confirm reruns; the reruns run on this machine, whatever its load, and
    # the wide threshold below takes its swings.
    run = scaled_copy(tmp_path / "measured", tmp_path / "run", 1.0)
    # A current run that was slow by chance (every time tripled), against the real run: the reruns
    # measure this machine's real speed, which the baseline holds.
    noisy = scaled_copy(run, tmp_path / "noisy", 3.0)
    # The threshold is wide: tiny runs on a shared machine swing by tens of percent, at times more.
    gate = ["--threshold", "150%", "--confirm", "3"]
    dismissed = run_cli("check", str(noisy), "--baseline", str(run), *gate, timeout=300)
    assert dismissed.returncode == 0, dismissed.stdout + dismissed.stderr[-2000:]
    verdict = json.loads((noisy / "check.json").read_text())["cases"][0]
    assert verdict["status"] == "unconfirmed" and "not confirmed by 3 reruns" in verdict["note"]
    assert "not confirmed by 3 reruns" in (noisy / "check.md").read_text()
    rows = pd.read_csv(noisy / RESULTS_FILE)
    reruns = rows[rows["confirmation"] == 1]
    assert (len(reruns), int(reruns["warmup"].sum())) == (4, 1) and (reruns["status"] == "ok").all()
    kept = [row.seconds for row in read_result_rows(noisy) if row.confirmation == 0]
    assert kept == [row.seconds * 3.0 for row in read_result_rows(run)]  # the first runs untouched

    # A baseline ten times faster than this machine can go: the reruns reproduce the slowdown.
    fast = scaled_copy(run, tmp_path / "fast", 0.1)
    confirmed = run_cli("check", str(run), "--baseline", str(fast), *gate, timeout=300)
    assert confirmed.returncode == 1, confirmed.stdout + confirmed.stderr[-2000:]
    verdict = json.loads((run / "check.json").read_text())["cases"][0]
    assert verdict["status"] == "regression" and "; confirmed by 3 reruns" in "; " + verdict["note"]


def test_reruns_stay_out_of_the_run_as_planned() -> None:
    planned = [result_row("r", "python", 10, 1.0, repeat=i) for i in (1, 2, 3)]
    reruns = [result_row("r", "python", 10, 5.0, repeat=i, confirmation=1) for i in (1, 2)]
    frame = rows_frame(planned + reruns)
    assert measured_runs(frame)["seconds"].tolist() == [1.0, 1.0, 1.0]
    assert measured_runs(frame, confirmation=1)["seconds"].tolist() == [5.0, 5.0]
    summary = case_summaries(frame)
    assert summary["count"].tolist() == [3] and summary["max"].tolist() == [1.0]
