"""A stage never deletes what udfbench did not write: a folder of someone else's files is refused
unless the user says to write over it, and a stage udfbench wrote may be written again."""

from __future__ import annotations

from pathlib import Path

from tests.commands import run_cli, write_config
from udfbench.inputs.stage import STAGE_MARKER

CONFIG = """
    dataset: {{sizes: [4], seed: 3, stage: {stage}{more}}}
    model: {{image_size: 48}}
    strategies: [python]
"""


def foreign_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("not udfbench's")
    (folder / "part-keep.parquet").write_bytes(b"PAR1")
    return folder


def test_a_stage_over_files_udfbench_did_not_write_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = foreign_folder(tmp_path)
    config = write_config(tmp_path, CONFIG.format(stage=folder, more=""))
    result = run_cli("validate", str(config), timeout=300)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("udfbench")]
    assert len(lines) == 1 and "dataset.stage" in lines[0] and "notes.txt" in lines[0], result.stderr
    assert "stage_overwrite: true" in lines[0]
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "part-keep.parquet"]
    allowed = write_config(tmp_path, CONFIG.format(stage=folder, more=", stage_overwrite: true"))
    assert run_cli("validate", str(allowed), timeout=300).returncode == 0


def test_the_dataset_verb_writes_over_a_folder_only_when_forced_and_its_own_stage_again(
    tmp_path: Path,
) -> None:
    folder = foreign_folder(tmp_path)
    config = write_config(tmp_path, CONFIG.format(stage=tmp_path / "unused", more=""))
    refused = run_cli("dataset", str(config), "--out", str(folder), timeout=300)
    assert refused.returncode == 2 and "pass --force" in refused.stderr, refused.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "part-keep.parquet"]
    forced = run_cli("dataset", str(config), "--out", str(folder), "--force", timeout=300)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert (folder / STAGE_MARKER).exists() and not (folder / "notes.txt").exists()
    # Now the folder is udfbench's own stage: a config may write it again without saying so.
    again = write_config(tmp_path, CONFIG.format(stage=folder, more=""))
    assert run_cli("validate", str(again), timeout=300).returncode == 0
