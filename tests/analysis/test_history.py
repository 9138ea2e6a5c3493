"""``udfbench history`` on hand-made run folders: the slowdowns it finds, what it refuses, what it writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.commands import run_cli
from tests.rundirs import bench_config, case_rows, write_run_folder
from udfbench.analysis.history import history
from udfbench.errors import UserError
from udfbench.rundir.schema import RESULTS_FILE

VERSIONS = {"python": "3.11.7", "pyspark": "4.3.0", "pyarrow": "26.0.1", "java": "17"}


CASES = {("python", 100): 1.0, ("udf", 100): 3.0}


def write_runs(
    root: Path,
    count: int = 8,
    slower: dict[tuple[str, int], float] | None = None,
    from_run: int = 5,
    repeats: int = 5,
    seed: int = 0,
    names: list[str] | None = None,
    noise: float = 0.03,
    busy: bool = False,
) -> list[Path]:
    """``count`` run folders, a day apart; from run ``from_run`` (1-based) on, cases in ``slower`` take
    that many times longer, and with ``busy`` other processes took 40% of the CPU while they ran
    (written into the rows: this machine's load never decides). ``noise`` is the lognormal sigma of
    each repeat. Each run's folder name sorts opposite to its start time, so ordering by name would
    be wrong."""
    rng = np.random.default_rng(seed)
    folders = []
    for number in range(1, count + 1):
        folder = root / f"run-{count - number:02d}"
        run_id = names[number - 1] if names else folder.name
        rows = []
        for (strategy, size), base in CASES.items():
            factor = (slower or {}).get((strategy, size), 1.0) if number >= from_run else 1.0
            seconds = base * factor * rng.lognormal(0, noise, repeats)
            foreign = 40.0 if busy and number >= from_run else 0.0
            rows += case_rows(run_id, strategy, size, seconds, warmup_s=base * 3, foreign_cpu_pct=foreign)
        write_run_folder(
            folder,
            rows,
            run_id=run_id,
            started_at=f"2026-11-{number:02d}T10:00:00+00:00",
            config=bench_config(spark={"master": "local[2]"}),
            versions=VERSIONS,
            git_commit=f"{number:07x}abcdef",
        )
        folders.append(folder)
    return folders


def test_a_lasting_slowdown_is_found_at_its_run(tmp_path) -> None:
    runs = write_runs(tmp_path, slower={("udf", 100): 1.3})
    found = history(runs, threshold=0.1)
    assert [r.run_id for r in found.runs] == [f"run-{8 - n:02d}" for n in range(1, 9)]  # by start time
    assert [(s.case, s.index, s.run_id, s.direction) for s in found.slowdowns] == [
        ("local/udf/n=100", 4, "run-03", "slower")
    ]
    assert found.slowdowns[0].ratio == pytest.approx(1.3, rel=0.05)
    point = found.series["local/udf/n=100"].points[0]
    assert point.count == 5 and point.low < point.median < point.high
    assert found.exit_status() == 1


def test_a_step_within_the_threshold_is_unchanged_only_when_its_interval_is(tmp_path) -> None:
    small = history(write_runs(tmp_path / "small", slower={("udf", 100): 1.05}, noise=0.005), threshold=0.1)
    (step,) = small.steps
    assert step.ratio == pytest.approx(1.05, rel=0.02) and step.verdict.status == "unchanged"
    assert step.verdict.low >= 1 / 1.1 and step.verdict.high <= 1.1
    assert small.slowdowns == [] and small.exit_status() == 0
    # An 8% step in 3% noise: its interval reaches past 10%, so it cannot be called unchanged.
    noisy = history(write_runs(tmp_path / "noisy", slower={("udf", 100): 1.08}), threshold=0.1)
    (step,) = noisy.steps
    assert step.verdict.status == "undecided" and step.verdict.undecided_because == "noisy"
    assert step.verdict.high > 1.1 and "runs at each level would resolve it" in step.verdict.note
    assert noisy.exit_status() == 0
    assert (
        history(write_runs(tmp_path / "strict", slower={("udf", 100): 1.08}), 0.1, strict=True).exit_status()
        == 1
    )


def test_a_step_measured_on_a_busy_machine_is_undecided_not_a_slowdown(tmp_path) -> None:
    found = history(write_runs(tmp_path, slower={("udf", 100): 1.3}, busy=True), threshold=0.1)
    (step,) = found.steps
    assert step.ratio == pytest.approx(1.3, rel=0.05)
    assert (step.verdict.status, step.verdict.undecided_because) == ("undecided", "busy")
    assert step.verdict.note.startswith(
        "measured on a busy machine (other processes took 40% of the CPU in the runs after the step"
    )
    assert step.verdict.note.endswith("(looked like a regression)")
    assert found.slowdowns == [] and found.exit_status() == 0


def test_a_folder_of_runs_is_read_like_its_runs(tmp_path) -> None:
    write_runs(tmp_path / "reports", slower={("udf", 100): 1.3})
    assert [s.run_id for s in history([tmp_path / "reports"], threshold=0.1).slowdowns] == ["run-03"]


def test_relative_mode_follows_the_ratio_to_a_reference(tmp_path) -> None:
    # Both strategies slow down together (a slower machine): no change relative to python.
    runs = write_runs(tmp_path, slower={("udf", 100): 1.3, ("python", 100): 1.3})
    assert history(runs, threshold=0.1).exit_status() == 1
    relative = history(runs, threshold=0.1, relative_to="python")
    assert list(relative.series) == ["local/udf/n=100"] and relative.exit_status() == 0


def test_a_case_missing_from_some_runs_keeps_its_place(tmp_path) -> None:
    runs = write_runs(tmp_path, slower={("udf", 100): 1.3})
    for run in runs[:2]:  # udf was added in the third run
        lines = (run / RESULTS_FILE).read_text().splitlines(keepends=True)
        (run / RESULTS_FILE).write_text("".join(line for line in lines if ",udf," not in line))
    found = history(runs, threshold=0.1)
    assert found.series["local/udf/n=100"].points[:2] == [None, None]
    assert [(s.index, s.run_id) for s in found.slowdowns] == [(4, "run-03")]


def test_runs_with_one_repeat_have_no_interval(tmp_path) -> None:
    found = history(write_runs(tmp_path, repeats=1), threshold=0.1)
    assert all(p.low is None and p.high is None for p in found.series["local/udf/n=100"].points)


def test_runs_on_another_setup_are_refused_unless_allowed(tmp_path) -> None:
    runs = write_runs(tmp_path)
    meta_path = runs[3] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["versions"]["pyspark"] = "4.2.0"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="run-04 against run-07: pyspark: 4.3.0 in the baseline, 4.2.0 now"):
        history(runs, threshold=0.1)
    assert history(runs, threshold=0.1, allow_different_env=True).differences


def test_cli_exits_1_on_a_slowdown_and_writes_html_and_json(tmp_path) -> None:
    runs = write_runs(tmp_path / "reports", slower={("udf", 100): 1.3})
    out = tmp_path / "out"
    done = run_cli("history", *map(str, runs), "--out", str(out), "--threshold", "10%")
    assert done.returncode == 1, done.stderr
    assert "local/udf/n=100" in done.stdout and "1 slowdown(s) beyond 10%" in done.stdout
    written = json.loads((out / "history.json").read_text())
    assert [(s["case"], s["run_id"], s["direction"]) for s in written["steps"]] == [
        ("local/udf/n=100", "run-03", "slower")
    ]
    assert [r["git_commit"] for r in written["runs"]][:2] == ["0000001abcdef", "0000002abcdef"]
    assert len(written["series"]["local/udf/n=100"]["points"]) == 8
    assert "data:image/png;base64," in (out / "history.html").read_text()


def test_cli_counts_undecided_steps_and_fails_them_with_strict(tmp_path) -> None:
    runs = write_runs(tmp_path / "reports", slower={("udf", 100): 1.3}, busy=True)
    passed = run_cli("history", *map(str, runs), "--out", str(tmp_path / "a"))
    assert passed.returncode == 0, passed.stderr
    assert "0 slowdown(s) beyond 10%, 1 step(s) (1 undecided)" in passed.stdout
    strict = run_cli("history", *map(str, runs), "--strict", "--out", str(tmp_path / "b"))
    assert strict.returncode == 1, strict.stderr
    (step,) = json.loads((tmp_path / "b" / "history.json").read_text())["steps"]
    assert step["verdict"]["status"] == "undecided" and "busy machine" in step["verdict"]["note"]
    assert "busy machine" in (tmp_path / "b" / "history.html").read_text()


def test_cli_exits_0_on_a_flat_history_and_writes_next_to_the_runs(tmp_path) -> None:
    write_runs(tmp_path / "reports")
    done = run_cli("history", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert "0 slowdown(s)" in done.stdout
    assert len(list((tmp_path / "reports").glob("history-*/history.html"))) == 1


def test_cli_exits_2_on_a_folder_that_holds_no_run(tmp_path) -> None:
    runs = write_runs(tmp_path / "reports", count=3)
    (tmp_path / "empty").mkdir()
    done = run_cli("history", *map(str, runs), str(tmp_path / "empty"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"udfbench: error: {tmp_path / 'empty'}: not a run folder (no meta.json) nor a folder of run folders"
    ]


def test_html_escapes_case_and_run_names(tmp_path) -> None:
    from udfbench.report.history import render_html

    evil = "<script>alert(1)</script>"
    runs = write_runs(tmp_path, count=4, names=[f"{evil}{n}" for n in range(4)])
    for run in runs:  # a strategy name with markup, too
        text = (run / RESULTS_FILE).read_text().replace(",udf,", f",{evil},")
        (run / RESULTS_FILE).write_text(text)
    page = render_html(history(runs, threshold=0.1))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_runs_of_a_strategy_since_removed_stay_readable_but_cannot_be_rerun(tmp_path) -> None:
    runs = write_runs(tmp_path, slower={("udf", 100): 1.3})
    for run in runs:  # as if udf had been renamed after these runs were made
        meta = json.loads((run / "meta.json").read_text())
        meta["config"]["strategies"] = ["python", "udf_old"]
        (run / "meta.json").write_text(json.dumps(meta))
        rows = (run / RESULTS_FILE).read_text().splitlines()
        (run / RESULTS_FILE).write_text("\n".join(r.replace(",udf,", ",udf_old,") for r in rows) + "\n")
    assert [s.case for s in history(runs, threshold=0.1).slowdowns] == ["local/udf_old/n=100"]
    assert run_cli("report", str(runs[-1]), timeout=120).returncode == 0
    assert "udf_old" in (runs[-1] / "report.html").read_text()
    result = run_cli("check", str(runs[-1]), "--baseline", str(runs[0]), "--confirm", "2", timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr[-2000:]
    assert "meta.json: config.strategies: cannot rerun its cases: unknown strategy udf_old" in result.stderr


def test_cpu_time_is_followed_apart_from_wall_time(tmp_path) -> None:
    # The udf's CPU time steps up from the fifth run while its wall time stays: what --metric cpu sees.
    runs = write_runs(tmp_path)
    for number, run in enumerate(sorted(runs, key=lambda r: r.name, reverse=True), start=1):
        rows = pd.read_csv(run / RESULTS_FILE)
        factor = rows["strategy"].eq("udf") * (0.3 if number >= 5 else 0.0) + 1.0
        rows.assign(cpu_s=rows["seconds"] * 1.8 * factor).to_csv(run / RESULTS_FILE, index=False)
    assert history(runs, threshold=0.1).slowdowns == []
    found = history(runs, threshold=0.1, metric="cpu")
    assert [(s.case, s.index) for s in found.slowdowns] == [("local/udf/n=100", 4)]


def test_a_history_that_cannot_be_written_says_its_verdict_then_exits_2(tmp_path) -> None:
    runs = write_runs(tmp_path / "reports", slower={("udf", 100): 1.3})
    (tmp_path / "out" / "history.json").mkdir(parents=True)
    done = run_cli("history", *map(str, runs), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "1 slowdown(s) beyond 10%" in done.stdout
    in_the_way = tmp_path / "out" / "history.json"
    assert done.stderr == f"udfbench: error: {in_the_way}: cannot write it: Is a directory\n"


@pytest.mark.filterwarnings("error::FutureWarning")
def test_runs_with_a_column_empty_in_one_follow_without_pandas_warnings(tmp_path) -> None:
    # One run's foreign CPU was not read: stacking it with the others printed pandas' FutureWarning.
    runs = []
    for number in range(1, 5):
        read = {} if number == 2 else {"foreign_cpu_pct": 1.0}
        rows = case_rows(f"r{number}", "udf", 100, [1.0, 1.1, 1.05], **read)
        started = f"2026-11-{number:02d}T10:00:00+00:00"
        runs.append(write_run_folder(tmp_path / f"r{number}", rows, started_at=started))
    assert len(history(runs, threshold=0.1).series["local/udf/n=100"].points) == 4
