"""bench.yaml: what is accepted, and one clear line with exit status 2 for everything that is not."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import run_cli, write_config

from udfbench.config import axes_grid, load_config
from udfbench.errors import UserError

VALID = """
    name: t
    dataset: {sizes: [10, 20]}
    strategies: [python, udf]
"""


def test_minimal_config_fills_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, VALID))
    assert config.dataset.seed_images == "builtin"
    assert config.model.image_size == 192 and config.model.classes == ["dog", "cat"]
    assert config.spark.master == "local[*]"
    assert [c.master_url() for c in config.cluster_list()] == ["local[*]"]
    assert config.output_dir == str(tmp_path / "reports")


def test_list_valued_knobs_become_axes(tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path, VALID + "    batch_size: [2, 32]\n    spark: {arrow_batch_size: [100, 1000]}\n"
        )
    )
    grid = axes_grid(config)
    assert {(a.batch_size, a.arrow_batch_size) for a in grid} == {(2, 100), (2, 1000), (32, 100), (32, 1000)}


def test_relative_paths_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    config = load_config(
        write_config(tmp_path, VALID + "    output_dir: out\n"), {"dataset.seed_images": "imgs"}
    )
    assert config.dataset.seed_images == str(tmp_path / "imgs")
    assert config.output_dir == str(tmp_path / "out")


BAD = [
    ("dataset: {sizes: [10]\nstrategies: [python]\n", "line", "not valid YAML"),
    (VALID + "    colour: blue\n", "colour", "unknown key"),
    (VALID.replace("[10, 20]", "[10, -5]"), "dataset.sizes[1]", "greater than 0"),
    (VALID.replace("[10, 20]", "[10, many]"), "dataset.sizes[1]", "integer"),
    (VALID.replace("[python, udf]", "[]"), "strategies", "at least 1"),
    (VALID.replace("[python, udf]", "[python, gpu_magic]"), "strategies", "known: python"),
    (VALID + "    dataset_extra: 1\n", "dataset_extra", "unknown key"),
    (VALID + "    repeats: 0\n", "repeats", "greater than 0"),
    (VALID + "    model: {path: missing.keras}\n", "model.path", "does not exist"),
    (VALID + "    model: {path: bench.yaml}\n", "model.path", "must end in .keras, .h5, .onnx"),
    (
        VALID + "    model: {normalize: {mean: [0.5, 0.5], std: [1, 1, 1]}}\n",
        "model.normalize.mean",
        "needs 3 numbers",
    ),
    (
        VALID + "    model: {normalize: {mean: [0, 0, 0], std: [1, 0, 1]}}\n",
        "model.normalize.std[1]",
        "greater than 0",
    ),
    (VALID + "    model: {normalize: {mean: [0, 0, 0]}}\n", "model.normalize.std", "required"),
    (
        VALID.replace("{sizes: [10, 20]}", "{sizes: [10], seed_images: nowhere}"),
        "dataset.seed_images",
        "does not exist",
    ),
    (VALID + "    clusters: [{name: c, kind: external}]\n", "clusters[0]", "needs 'master'"),
    ("- just\n- a list\n", "bench.yaml: the file", "must be a mapping of keys to values"),
    (VALID + "    spark: {master: 'sc://host:15002'}\n", "spark.master", "Spark Connect"),
    (
        VALID + "    clusters: [{name: c, kind: external, master: 'sc://h:15002'}]\n",
        "clusters[0]",
        "Spark Connect",
    ),
    (VALID + "    spark: {master: banana}\n", "spark.master", "not a Spark master URL"),
    (VALID.replace("[10, 20]", "[10, 20, 10]"), "dataset.sizes", "size 10 is listed more than once"),
    (VALID.replace("[10, 20]", "[true]"), "dataset.sizes[0]", "valid integer"),
    (VALID + "    repeats: 3\n    repeats: 5\n", "line", "key 'repeats' is given twice"),
    (VALID + "    spark: {master: 'local[0]'}\n", "spark.master", "not a Spark master URL"),
    (VALID + "    spark: {master: 'local[99999999999]'}\n", "spark.master", "numbers up to 2147483647"),
    (VALID + "    spark: {master: 'spark://host'}\n", "spark.master", "not a Spark master URL"),
    # Spark 4 has no Mesos: its JVM refuses mesos://.
    (VALID + "    spark: {master: 'mesos://host:5050'}\n", "spark.master", "not a Spark master URL"),
    (VALID + "    spark: {driver_memory: banana}\n", "spark.driver_memory", "not a Spark memory size"),
    (VALID + "    spark: {executor_memory: 2 GB}\n", "spark.executor_memory", "like 512m or 2g"),
    (
        VALID + "    clusters: [{name: c, kind: standalone, worker_memory: lots}]\n",
        "clusters[0].worker_memory",
        "not a Spark memory size",
    ),
    (
        VALID + "    clusters: [{name: c, kind: external, master: 'http://h:7077'}]\n",
        "clusters[0].master",
        "not a Spark master URL",
    ),
    (VALID.replace("[10, 20]}", "[10, 20], read_with: pyarrow}"), "dataset", "neither is given"),
    (VALID.replace("[10, 20]}", "[10, 20], read_with: arrow}"), "dataset.read_with", "'spark' or 'pyarrow'"),
    # A sweepable setting is a number or a list: a bad list item is told as such, not as "not a number".
    (VALID + "    batch_size: [8, 0]\n", "batch_size[1]", "Input should be greater than 0"),
    (VALID.replace("[10, 20]}", "[10, 20], seed: true}"), "dataset.seed", "valid integer"),
    (VALID + "    model: {classes: [dog, cat, dog]}\n", "model.classes", "class dog is listed more"),
    (VALID.replace("[python, udf]", "[python, udf, python]"), "strategies", "strategy python is listed more"),
    (VALID + "    ? [a, b]\n    : 1\n", "line 5, column 3", "found unhashable key"),
    (VALID + "    output_dir: ~no-such-user-udfbench/x\n", "output_dir", "not a usable path"),
    (VALID + '    model: {path: "a\\0b.keras"}\n', "model.path", "not a usable path"),
    (
        VALID + "    clusters: [{name: c, kind: standalone, start_timeout_s: .inf}]\n",
        "clusters[0].start_timeout_s",
        "finite number",
    ),
]


@pytest.mark.parametrize(
    "master", ["local", "local[4]", "local[*]", "local[4,2]", "spark://h1:7077", "spark://h1:7077,h2:7077",
               "yarn", "k8s://https://10.0.0.1:6443"]
)  # fmt: skip
def test_every_kind_of_spark_master_is_accepted(tmp_path: Path, master: str) -> None:
    text = VALID + f"    spark: {{master: '{master}', driver_memory: 512m, executor_memory: 4G}}\n"
    assert load_config(write_config(tmp_path, text)).spark.master == master


@pytest.mark.parametrize(("text", "field", "words"), BAD)
def test_bad_config_is_one_error_naming_the_field(tmp_path: Path, text: str, field: str, words: str) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(text if not text.startswith("\n") else __import__("textwrap").dedent(text))
    with pytest.raises(UserError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and field in message and words in message


@pytest.mark.parametrize("verb", ["validate", "run"])
@pytest.mark.parametrize(
    ("text", "field", "words"), [BAD[0], BAD[1], BAD[2], BAD[5], BAD[8], BAD[14], BAD[17]]
)
def test_cli_reports_bad_config_in_one_line_with_status_2(
    tmp_path: Path, verb: str, text: str, field: str, words: str
) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(text if not text.startswith("\n") else __import__("textwrap").dedent(text))
    result = run_cli(verb, str(path), timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and words in lines[0], result.stderr


def test_cli_missing_config_and_bad_override(tmp_path: Path) -> None:
    missing = run_cli("validate", str(tmp_path / "nope.yaml"), timeout=120)
    assert missing.returncode == 2 and "config file not found" in missing.stderr
    path = write_config(tmp_path, VALID)
    empty, junk = tmp_path / "empty", tmp_path / "junk.onnx"
    empty.mkdir()
    junk.write_text("not a model")
    bad = run_cli("validate", str(path), "--sizes", "10,x", timeout=120)
    assert bad.returncode == 2 and "--sizes" in bad.stderr and "Traceback" not in bad.stderr
    # A bad value from the command line is blamed on its flag, not on the file it overrides.
    for flag, value, message in [
        ("--sizes", "0", "--sizes (dataset.sizes[0]): Input should be greater than 0"),
        ("--strategies", "python,nope", "--strategies (strategies): unknown strategy nope"),
        ("--seed-images", str(path), f"--seed-images (dataset.seed_images): {path} is not a folder"),
        # Found by the checks before a run, not by reading the config: blamed on the flag too.
        (
            "--seed-images",
            str(empty),
            f"--seed-images (dataset.seed_images): no .jpg, .jpeg or .png files in {empty}",
        ),
        ("--model", str(junk), f"--model (model.path): {junk} is not an ONNX model"),
    ]:
        bad = run_cli("validate", str(path), flag, value, timeout=120)
        assert bad.returncode == 2 and bad.stderr.startswith(f"udfbench: error: {message}"), bad.stderr
    ok = run_cli("validate", str(path), "--sizes", "5,6,7", "--strategies", "python", timeout=120)
    assert ok.returncode == 0 and "3 cases" in ok.stdout, ok.stderr
