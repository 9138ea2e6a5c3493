"""Parquet tables of images as input: every strategy reads them, bad tables are one line, staging
writes a table every strategy then reads."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.commands import run_cli, tiny_onnx, write_config
from tests.measure.test_loop import run_case
from tests.measure.test_strategies import SPARK_AND_DRIVER
from tests.model.test_runtimes import MEAN, STD, pool_linear_softmax
from udfbench.errors import UserError
from udfbench.inputs.cells import CELL_BITS
from udfbench.inputs.seeds import draw_rows
from udfbench.inputs.stage import ROWS_PER_ROW_GROUP, STAGE_COLUMNS, write_stage
from udfbench.inputs.storage import GCS_RETRY_LIMIT_S, filesystem
from udfbench.inputs.table import SCAN_IMAGE_ROWS, SCAN_ROWS, ImageTable, image_key, rebatch
from udfbench.measure.loop import Runner
from udfbench.measure.strategies import get_strategy
from udfbench.measure.workload import TABLE_CELL, Workload, group_aligned_chunks, prepare_workload
from udfbench.model.reference import accuracy
from udfbench.plan.config import load_config
from udfbench.rundir.events import RunListener


def image_table(
    folder: Path, seeds, rows: int, files: int = 2, with_id: bool = True, null_at=None, group_rows=None
) -> Path:
    """A table of ``rows`` rows cycling through the seeds' bytes, split over ``files`` files (in row
    groups of ``group_rows`` rows, else one per file).

    Ids run backwards, so "first N by id" differs from file order."""
    data = [Path(seeds[i % len(seeds)].path).read_bytes() for i in range(rows)]
    if null_at is not None:
        data[null_at] = None
    columns = {
        "picture": pa.array(data, pa.binary()),
        "animal": [seeds[i % len(seeds)].truth for i in range(rows)],
    }
    if with_id:
        columns = {"key": pa.array(range(rows - 1, -1, -1), pa.int64()), **columns}
    table = pa.table(columns)
    folder.mkdir(parents=True)
    per_file = -(-rows // files)
    for index in range(files):
        part = table.slice(index * per_file, per_file)
        pq.write_table(part, folder / f"part-{index}.parquet", row_group_size=group_rows)
    return folder


TABLE_CONFIG = """
    dataset:
      sizes: [{size}]
      table: {table}
      image_column: {image}
      {more}
    model: {{image_size: 48}}
    strategies: [{strategies}]
    batch_size: 4
    warmup: 0
    repeats: 1
    spark: {{master: "local[2]", driver_memory: 1g}}
"""


def config(tmp_path, table, size=10, image="picture", more="id_column: key", strategies="python"):
    return write_config(
        tmp_path,
        TABLE_CONFIG.format(size=size, table=table, image=image, more=more, strategies=strategies),
    )


def test_first_rows_by_id_or_file_order_stream_in_chunks(tmp_path, seeds) -> None:
    by_id = ImageTable.open(str(image_table(tmp_path / "a", seeds, 9, files=3)), "picture", "key", "animal")
    index = by_id.index(4, ["dog", "cat"])
    assert index["id"].tolist() == [0, 1, 2, 3]  # the smallest ids, not the first rows of the files
    assert index["path"].str.startswith("sha1:").all() and index["truth"].isin(["cat", "dog"]).all()
    chunks = list(by_id.chunks(index, 3, "content"))
    assert [len(c) for c in chunks] == [3, 1]
    merged = pd.concat(chunks)
    assert sorted(merged["id"]) == [0, 1, 2, 3]
    assert [image_key(b) for b in merged.sort_values("id")["content"]] == index["path"].tolist()

    in_files = ImageTable.open(str(image_table(tmp_path / "b", seeds, 9, files=3, with_id=False)), "picture")
    index = in_files.index(5, ["dog", "cat"])
    assert index["id"].tolist() == list(range(5))
    assert index[["_file", "_row"]].values.tolist() == [
        ["part-0.parquet", 0], ["part-0.parquet", 1], ["part-0.parquet", 2],
        ["part-1.parquet", 0], ["part-1.parquet", 1],
    ]  # fmt: skip
    assert index["truth"].eq("").all()  # no label column
    # The reference sees each distinct image once, however many rows repeat it.
    assert len(list(in_files.images(9))) == len(seeds)


def test_a_scan_holds_a_few_images_at_a_time(tmp_path, seeds) -> None:
    table = ImageTable.open(str(image_table(tmp_path / "t", seeds, 300, files=1)), "picture", "key")
    images = [part.num_rows for part in table.scan(300, ["picture"])]
    assert sum(images) == 300 and max(images) == SCAN_IMAGE_ROWS
    assert [part.num_rows for part in table.scan(300, ["animal"])] == [SCAN_ROWS, 300 - SCAN_ROWS]


def test_rebatch_cuts_exact_chunks() -> None:
    parts = [pa.table({"x": list(range(n))}) for n in (5, 1, 7)]
    assert [t.num_rows for t in rebatch(parts, 4)] == [4, 4, 4, 1]


def test_accuracy_counts_rows_with_a_true_class_and_skips_as_wrong() -> None:
    rows = pd.DataFrame({"id": [1, 2, 3, 4], "truth": ["cat", "dog", "", "cat"]})
    predicted = pd.DataFrame({"id": [4, 3, 2, 1], "label": [-1, 0, 0, 1]})
    assert accuracy(predicted, rows, ["dog", "cat"]) == pytest.approx(2 / 3)
    assert accuracy(predicted, rows.assign(truth=""), ["dog", "cat"]) is None


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"image": "photo"}, "no column 'photo' in table .*; its columns: key, picture, animal"),
        ({"more": "id_column: nope"}, "no column 'nope'"),
        ({"image": "key"}, "column 'key' .* is int64; expected binary"),
        ({"size": 13}, "size 13 is larger than the 12 rows of table"),
        (
            {"image": "animal", "more": "read_with: pyarrow"},
            "dataset.read_with: pyarrow reads image bytes, but column 'animal' .* holds paths",
        ),
    ],
)
def test_a_bad_table_is_one_line_and_exit_2(tmp_path, seeds, settings, expected) -> None:
    import re

    table = image_table(tmp_path / "t", seeds, 12)
    result = run_cli("run", str(config(tmp_path, table, **settings)), "--out", str(tmp_path / "run"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(expected, lines[0]), lines


def test_a_missing_table_is_one_line(tmp_path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        ImageTable.open(str(tmp_path / "nowhere"), "image")


def test_an_empty_table_folder_says_it_holds_no_files(tmp_path) -> None:
    # It said "no column 'image' in table ...; its columns: " and nothing after.
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        UserError, match=f"^dataset.table: table {tmp_path / 'empty'} holds no Parquet files$"
    ):
        ImageTable.open(str(tmp_path / "empty"), "image")


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (["cat", "kitten", None, "kitten"], "'kitten' (2 rows)"),
        ([0, 1, 2, -1], "'2' (1 rows), '-1' (1 rows)"),
    ],
)
def test_labels_that_are_not_classes_are_refused_by_validate(tmp_path, seeds, labels, words) -> None:
    # A label no class has could only count as a wrong prediction: accuracy 0.0, and no error.
    images = [Path(seeds[i].path).read_bytes() for i in range(len(labels))]
    (tmp_path / "t").mkdir()
    pq.write_table(pa.table({"picture": images, "animal": labels}), tmp_path / "t" / "part-0.parquet")
    path = config(tmp_path, tmp_path / "t", size=4, more="label_column: animal")
    result = run_cli("validate", str(path), timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert (
        f"{path}: dataset.label_column: column 'animal' of {tmp_path / 't'} holds labels that are not "
        in (result.stderr)
    )
    assert words in result.stderr and "(dog, cat)" in result.stderr
    # Within the sizes, every label is a class: the rows past them are never read.
    fine = config(tmp_path, tmp_path / "t", size=1, more="label_column: animal")
    assert run_cli("validate", str(fine), timeout=120).returncode == 0


def test_gcs_requests_give_up_at_the_retry_limit() -> None:
    # Without a limit pyarrow's GCS client retries a request to unreachable storage for 15 minutes.
    gcs, path = filesystem("gs://udfbench-bucket/images")
    assert path == "udfbench-bucket/images"
    options = gcs.__reduce__()[1][0]
    assert options["retry_time_limit"] == timedelta(seconds=GCS_RETRY_LIMIT_S)


def test_storage_that_cannot_be_reached_is_one_line() -> None:
    # This machine reaches no storage service (nor has it credentials). The limit is cut to 2 s so that
    # the test need not wait a minute; the subprocess's timeout only guards against a hang.
    script = textwrap.dedent(
        """
        from udfbench.inputs import storage, table as tables
        from udfbench.errors import UserError
        storage.GCS_RETRY_LIMIT_S = 2
        try:
            tables.ImageTable.open("gs://udfbench-no-such-bucket/images", "image")
        except UserError as err:
            print(err)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    (message,) = result.stdout.strip().splitlines()
    assert message.startswith("dataset.table: cannot read table gs://udfbench-no-such-bucket/images: ")
    assert len(message) < 400, message


def table_runner(tmp_path: Path, seeds, size: int, more: str, **table_options) -> Runner:
    """A runner over a user's table of ``size + 2`` rows, with an exported ONNX model (NCHW, dynamic
    batch, ImageNet normalization, softmax over two classes), set up as ``udfbench run`` sets it up."""
    table = image_table(tmp_path / "t", seeds, size + 2, **table_options)
    path = config(tmp_path, table, size=size, more=more)
    onnx = pool_linear_softmax(tmp_path / "exported.onnx", size=16)
    model = f"model: {{path: {onnx}, normalize: {{mean: {MEAN}, std: {STD}}}}}"
    path.write_text(path.read_text().replace("model: {image_size: 48}", model))
    config_ = load_config(path)
    workload, _ = prepare_workload(config_, path, tmp_path)
    return Runner(config_, workload, tmp_path, RunListener())


# Every strategy through the runner in the tests' one Spark session (a run through the command
# line would start a session per strategy): five partitions, so that each Python worker runs
# several tasks.
@pytest.mark.spark
@pytest.mark.parametrize("name", SPARK_AND_DRIVER)
def test_every_strategy_reads_a_users_table_by_id_sees_every_row_and_agrees(
    tmp_path, spark, seeds, name
) -> None:
    runner = table_runner(tmp_path, seeds, 10, "id_column: key\n      label_column: animal")
    assert runner.workload.input_mode == "bytes"
    results, parity = run_case(runner, get_strategy(name), spark, runner.workload.spec)
    assert [r.status for r in results] == ["ok"], [r.error for r in results]
    assert all(r.rows == 10 and r.skipped == 0 for r in results)
    assert parity[0].status == "ok" and parity[0].rows == 10 and parity[0].label_mismatches == 0
    # Labels give an accuracy; every strategy agrees with the reference, so it is the reference's.
    assert parity[0].accuracy is not None


@pytest.mark.spark
@pytest.mark.parametrize("name", SPARK_AND_DRIVER)
def test_read_with_pyarrow_every_strategy_reads_its_cells_and_skips_a_null_image(
    tmp_path, spark, seeds, name
):
    # File order (no id column), a null cell and the workers reading row groups themselves: every
    # strategy sees every row, skips the null one and agrees with the reference row by row.
    more = "on_bad_image: skip\n      read_with: pyarrow"
    runner = table_runner(tmp_path, seeds, 8, more, with_id=False, null_at=2)
    assert runner.workload.input_mode == TABLE_CELL
    results, parity = run_case(runner, get_strategy(name), spark, runner.workload.spec)
    assert [r.status for r in results] == ["ok"], [r.error for r in results]
    assert all(r.rows == 8 and r.skipped == 1 for r in results)
    assert parity[0].status == "ok" and parity[0].rows == 8 and parity[0].label_mismatches == 0


@pytest.mark.slow
def test_a_run_reads_a_users_table_with_an_onnx_model_end_to_end(tmp_path, seeds) -> None:
    # The command line over a table: what the runner tests above cannot see (meta.json, the report).
    table = image_table(tmp_path / "t", seeds, 12)
    more = "id_column: key\n      label_column: animal"
    path = config(tmp_path, table, size=10, more=more, strategies="python, map_in_arrow")
    onnx = pool_linear_softmax(tmp_path / "exported.onnx", size=16)
    model = f"model: {{path: {onnx}, normalize: {{mean: {MEAN}, std: {STD}}}}}"
    path.write_text(path.read_text().replace("model: {image_size: 48}", model))
    result = run_cli("run", str(path), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert set(results["strategy"]) == {"python", "map_in_arrow"}
    assert (results["status"] == "ok").all() and (results["rows"] == 10).all()
    assert (results["input_mode"] == "bytes").all()
    parity = pd.read_csv(tmp_path / "run" / "parity.csv")
    assert (parity["status"] == "ok").all() and parity["accuracy"].notna().all()
    assert parity["accuracy"].nunique() == 1
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["input"]["table"] == str(table) and meta["input"]["image_column"] == "picture"
    assert str(table) in (tmp_path / "run" / "report.html").read_text()


def test_cells_name_each_rows_image_and_the_reader_reads_it(tmp_path, seeds) -> None:
    folder = image_table(tmp_path / "t", seeds, 40, files=3)  # ids run 39..0 over three files
    for table in (ImageTable.open(str(folder), "picture", "key"), ImageTable.open(str(folder), "picture")):
        index = table.index(25, ["dog", "cat"])
        # Forward, backward and again: a reader's stream goes forward only and must start over.
        cells, keys = index["cell"].tolist(), index["path"].tolist()
        images = table.row_group_reader().read(cells + cells[::-1] + cells)
        assert [image_key(image.to_pybytes()) for image in images] == keys + keys[::-1] + keys


@pytest.mark.parametrize(
    ("group_rows", "chunk_rows", "expected"),
    [
        ([50, 50, 50], 64, [50, 50, 50]),  # a chunk that straddled two groups would read both twice
        ([50, 50], 32, [50, 50]),  # a group up to twice a chunk is one chunk
        ([5] * 13, 64, [60, 5]),  # small groups: whole groups, as many as fit
        ([200], 64, [64, 64, 72]),  # a group longer than that is cut by rows, up to its end
        ([30, 100, 10], 64, [30, 100, 10]),
        ([1], 64, [1]),
        ([], 64, []),
    ],
)
def test_driver_chunks_of_cells_end_where_row_groups_end(group_rows, chunk_rows, expected) -> None:
    groups = np.repeat(np.arange(len(group_rows)), group_rows)
    chunks = list(group_aligned_chunks(groups, chunk_rows))
    assert [end - start for start, end in chunks] == expected
    assert [start for start, _ in chunks] == [sum(expected[:i]) for i in range(len(expected))]


def test_python_pipelined_gets_each_row_group_in_one_chunk(tmp_path, seeds) -> None:
    table = ImageTable.open(
        str(image_table(tmp_path / "t", seeds, 150, files=1, group_rows=50)), "picture", "key"
    )
    assert len(table.groups) == 3
    workload = Workload(
        datasets={150: table.index(150, ["dog", "cat"])},
        samples=(), seeds=None, spec=None, reference=None, input_mode=TABLE_CELL, skip_bad=False, table=table,
    )  # fmt: skip
    pipelined = get_strategy("python_pipelined")
    chunks = list(workload.local_chunks(150, rows=32, by_row_group=pipelined.chunks_to_many_processes))
    places = [
        (n, group) for n, chunk in enumerate(chunks) for group in set(chunk["cell"].to_numpy() >> CELL_BITS)
    ]
    assert sum(len(chunk) for chunk in chunks) == 150
    assert len(places) == 3  # every row group in one chunk only
    loop = list(
        workload.local_chunks(150, rows=32, by_row_group=get_strategy("python").chunks_to_many_processes)
    )
    assert [len(chunk) for chunk in loop] == [32, 32, 32, 32, 22]  # one process: the batch size as set


@pytest.mark.spark
def test_cells_reach_spark_in_runs_of_consecutive_cells(spark, tmp_path, seeds) -> None:
    stage = str(tmp_path / "stage")
    write_stage(spark, draw_rows(seeds, 120, seed=0), stage)
    table = ImageTable.open(stage, **STAGE_COLUMNS)
    workload = Workload(
        datasets={120: table.index(120, ["dog", "cat"])},
        samples=(), seeds=None, spec=None, reference=None, input_mode=TABLE_CELL, skip_bad=False, table=table,
    )  # fmt: skip
    rows = workload.spark_input(spark, {}, 120, partitions=3)
    parts = rows.select("cell").rdd.glom().map(lambda part: [r.cell for r in part]).collect()
    assert [len(p) for p in parts] == [40, 40, 40]
    cells = [cell for part in parts for cell in part]
    assert cells == sorted(cells)  # each partition a run, in table order: a row group read once


@pytest.mark.spark
@pytest.mark.slow
def test_the_dataset_verb_and_a_staged_run_write_and_read_the_same_table(tmp_path) -> None:
    body = """
        dataset: {{sizes: [5, 12], stage: {stage}}}
        model: {{path: {model}}}
        strategies: [python, pandas_udf]
        batch_size: 4
        warmup: 0
        repeats: 1
        spark: {{master: "local[2]", driver_memory: 1g}}
    """
    written = tmp_path / "written"
    model = tiny_onnx(tmp_path)  # the table is the subject, not the model
    path = write_config(tmp_path, body.format(stage=tmp_path / "stage", model=model))
    result = run_cli("dataset", str(path), "--out", str(written))
    assert result.returncode == 0, result.stderr[-3000:]
    table = pq.read_table(written)
    assert table.num_rows == 12 and {"id", "image", "label"} <= set(table.column_names)
    assert sorted(table["id"].to_pylist()) == list(range(12))
    assert all(len(b) > 1000 for b in table["image"].to_pylist()) and set(table["label"].to_pylist()) <= {
        "cat",
        "dog",
    }

    result = run_cli("run", str(path), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert (results["status"] == "ok").all() and (results["rows"] == results["size"]).all()
    staged = pq.read_table(tmp_path / "stage")
    assert staged.sort_by("id").equals(table.sort_by("id").select(staged.column_names))
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["input"]["stage"] == str(tmp_path / "stage")


def test_a_stage_that_cannot_be_written_is_one_line(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    body = "dataset: {sizes: [3]}\nstrategies: [python]\n"
    path = write_config(tmp_path, body)
    result = run_cli("dataset", str(path), "--out", str(blocker / "stage"))
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--out" in lines[0] and str(blocker / "stage") in lines[0], lines


def test_only_the_files_that_hold_a_datasets_rows_are_read(tmp_path, seeds) -> None:
    folder = image_table(tmp_path / "t", seeds, 40, files=4)  # ids run 39..0: ids 0-9 are in part-3
    by_id = ImageTable.open(str(folder), "picture", "key")
    assert set(by_id.needed_groups(10)["file"]) == {f"{folder}/part-3.parquet"}
    assert set(by_id.needed_groups(11)["file"]) == {f"{folder}/part-2.parquet", f"{folder}/part-3.parquet"}
    assert sorted(pa.concat_tables(by_id.scan(10)).column("id").to_pylist()) == list(range(10))
    in_file_order = ImageTable.open(str(folder), "picture")
    assert set(in_file_order.needed_groups(10)["file"]) == {f"{folder}/part-0.parquet"}


@pytest.mark.spark
def test_a_staged_file_holds_whole_row_groups(spark, tmp_path, seeds) -> None:
    # Files cut by id range hold about ROWS_PER_FILE rows, each ending in a short row group; so do
    # files cut by file number from a sample of the rows when all but one row fill whole files.
    per_file = 8 * ROWS_PER_ROW_GROUP  # Spark samples 300 rows a file by default
    stage = tmp_path / "stage"
    write_stage(spark, draw_rows(seeds, 3 * per_file - 1, seed=0), str(stage), rows_per_file=per_file)
    files = [pq.ParquetFile(path).metadata for path in sorted(stage.glob("*.parquet"))]
    groups = [[m.row_group(i).num_rows for i in range(m.num_row_groups)] for m in files]
    whole = [ROWS_PER_ROW_GROUP] * 8
    assert groups == [whole, whole, [*whole[:7], ROWS_PER_ROW_GROUP - 1]]
    ids = pq.read_table(stage, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(3 * per_file - 1))


@pytest.mark.spark
def test_a_staged_table_is_read_over_every_core_without_a_shuffle(spark, tmp_path, seeds) -> None:
    stage = str(tmp_path / "stage")
    write_stage(spark, draw_rows(seeds, 120, seed=0), stage)
    first_file = pq.ParquetFile(next(Path(stage).glob("*.parquet")))
    metadata = first_file.metadata
    groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
    assert [g.num_rows for g in groups] == [ROWS_PER_ROW_GROUP, ROWS_PER_ROW_GROUP, 20]
    assert {g.column(c).compression for g in groups for c in range(g.num_columns)} == {"UNCOMPRESSED"}
    # One image per page: pyarrow does not list pages, but each costs a header of some tens of bytes
    # beyond its values (and their 4-byte lengths); a group written as one page has one header.
    images = first_file.read_row_group(0, columns=["image"])
    values = sum(4 + len(v) for v in images.column("image").to_pylist())
    assert groups[0].column(1).total_compressed_size - values >= 10 * ROWS_PER_ROW_GROUP

    table = ImageTable.open(stage, **STAGE_COLUMNS)
    index = spark.createDataFrame(table.index(110, ["cat", "dog"]))
    rows = table.spark_rows(spark, index, 110, parallelism=2)
    per_partition = rows.select("id").rdd.glom().map(len).collect()
    assert sum(per_partition) == 110 and sum(n > 0 for n in per_partition) >= 2, per_partition
    plan = rows._jdf.queryExecution().executedPlan().toString()
    assert "RoundRobinPartitioning" not in plan and "hashpartitioning" not in plan, plan


@pytest.mark.spark
def test_a_table_of_paths_is_spread_over_every_core(spark, tmp_path, seeds) -> None:
    # One small file of paths is one split: read as it is, every Spark strategy would use one core.
    paths = pa.table({"key": list(range(40)), "file": [seeds[i % len(seeds)].path for i in range(40)]})
    pq.write_table(paths, tmp_path / "paths.parquet")
    table = ImageTable.open(str(tmp_path / "paths.parquet"), "file", "key")
    workload = Workload(
        datasets={40: table.index(40, ["dog", "cat"])},
        samples=(), seeds=None, spec=None, reference=None, input_mode="path", skip_bad=False, table=table,
    )  # fmt: skip
    per_partition = workload.spark_input(spark, {}, 40, partitions=None).rdd.glom().map(len).collect()
    assert sum(per_partition) == 40 and len(per_partition) == 2 and min(per_partition) > 0, per_partition


def test_a_null_cell_under_on_bad_image_fail_names_its_row(tmp_path, seeds) -> None:
    # It failed with "the file could not be read", naming neither a row nor an id.
    table = image_table(tmp_path / "t", seeds, 12, null_at=2)  # ids run backwards: row 2 is id 9
    result = run_cli("run", str(config(tmp_path, table)), "--out", str(tmp_path / "run"), timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    (error,) = pd.read_csv(tmp_path / "run" / "results.csv")["error"].dropna().tolist()
    assert "a null cell of the table" in error and error.endswith("(unreadable on the driver too: row id 9)")
