"""bench.yaml: what is accepted, and one clear line with exit status 2 for everything that is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands import run_cli, write_config
from udfbench.errors import UserError
from udfbench.plan.cases import cases, cluster_cores, plan
from udfbench.plan.config import axes_grid, duration_seconds, load_config

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
    (VALID + "    repeats: often\n", "repeats", "'auto'"),
    (VALID + "    repeats: auto\n    max_repeats: 3\n", "max_repeats", "greater than or equal to 4"),
    (VALID + "    repeats: auto\n    repeat_until: 0\n", "repeat_until", "greater than 0"),
    (VALID + "    model: {path: missing.keras}\n", "model.path", "does not exist"),
    (VALID + "    model: {path: .}\n", "model.path", "is a folder; a model is one .keras, .h5, .onnx file"),
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
    (VALID + "    spark: {master: 'sc://host:150020'}\n", "spark.master", "a port is a number from 1 to"),
    (
        VALID + "    clusters: [{name: c, kind: external, master: 'sc://h:15002'}]\n",
        "clusters[0]",
        "is a Spark Connect endpoint: give it as kind: connect",
    ),
    (VALID + "    spark: {master: banana}\n", "spark.master", "not a Spark master URL"),
    (VALID.replace("[10, 20]", "[10, 20, 10]"), "dataset.sizes", "size 10 is listed more than once"),
    (VALID.replace("[10, 20]", "[true]"), "dataset.sizes[0]", "valid integer"),
    (VALID + "    repeats: 3\n    repeats: 5\n", "line", "key 'repeats' is given twice"),
    (VALID + "    spark: {master: 'local[0]'}\n", "spark.master", "not a Spark master URL"),
    (VALID + "    spark: {master: 'local[99999999999]'}\n", "spark.master", "numbers up to 2147483647"),
    (VALID + "    spark: {master: 'spark://host'}\n", "spark.master", "not a Spark master URL"),
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
    (VALID.replace("[10, 20]}", "[10, 20], seed: -1}"), "dataset.seed", "greater than or equal to 0"),
    (VALID.replace("[10, 20]}", "[10, 20], seed: 4294967296}"), "dataset.seed", "less than 4294967296"),
    (VALID + "    batch_size: [8, 8]\n", "batch_size", "value 8 is listed more than once"),
    (VALID + "    spark: {task_cpus: [1, 2, 1]}\n", "spark.task_cpus", "value 1 is listed more than once"),
    (VALID + "    spark: {arrow_max_bytes: [64m, 67108864]}\n", "spark.arrow_max_bytes", "listed more"),
    (VALID + "    spark: {partitions: 3000000000}\n", "spark.partitions", "less than or equal to 2147483647"),
    (
        VALID + "    spark: {arrow_max_bytes: 2g}\n",
        "spark.arrow_max_bytes",
        "less than or equal to 2147483647",
    ),
    (VALID + "    spark: {arrow_max_bytes: lots}\n", "spark.arrow_max_bytes", "'lots' is not a Spark size"),
    (
        VALID + "    spark: {arrow_max_bytes: [1m, x]}\n",
        "spark.arrow_max_bytes[1]",
        "'x' is not a Spark size",
    ),
    (
        VALID + "    spark: {master: 'spark://h:99999'}\n",
        "spark.master",
        "a port is a number from 1 to 65535",
    ),
    (VALID + "    spark: {master: 'spark://h:7077,g:0'}\n", "spark.master", "from 1 to 65535"),
    (
        VALID + "    clusters: [{name: c, kind: standalone, master_port: 7077, webui_port: 7077}]\n",
        "clusters[0]",
        "master_port and webui_port are both 7077",
    ),
    (VALID + "    spark: {driver_memory: 99999999t}\n", "spark.driver_memory", "at most 8191p"),
    (
        VALID + "    spark: {conf: {spark.driver.memory: banana}}\n",
        "spark.conf: spark.driver.memory",
        "'banana' is not a Spark memory size",
    ),
    (
        VALID + "    spark: {conf: {spark.executor.memory: 1.5g}}\n",
        "spark.conf: spark.executor",
        "not a Spark",
    ),
    (VALID + "    spark: {conf: {a: {b: 1}}}\n", "spark.conf.a: ", "true/false, not a mapping"),
    (VALID + "    spark: {conf: {spark.foo: null}}\n", "spark.conf.spark.foo: ", "not empty (null)"),
    (VALID + "    spark: {conf: {spark.foo: [1]}}\n", "spark.conf.spark.foo: ", "not a list"),
    (VALID + "    scaling: {cores: [1, 2, 1]}\n", "scaling.cores", "core count 1 is listed more than once"),
    (VALID + "    scaling: {cores: [0, 2]}\n", "scaling.cores[0]", "greater than 0"),
    (VALID + "    scaling: {cores: []}\n", "scaling.cores", "at least 1"),
    (
        VALID + "    scaling: {cores: [1, 2]}\n    spark: {master: 'local[4]'}\n",
        "scaling",
        "must be local[*]",
    ),
    (
        VALID + "    scaling: {cores: [1]}\n    clusters: [{name: e, kind: external, master: 'yarn'}]\n",
        "scaling",
        "clusters[0] (e) is external",
    ),
    (
        VALID + "    scaling: {cores: [1]}\n    clusters: [{name: l, kind: local, cores: 2}]\n",
        "scaling",
        "clusters[0] (l) fixes its cores",
    ),
    (
        VALID
        + "    scaling: {cores: [2, 3]}\n    clusters: [{name: s, kind: standalone, worker_cores: 2}]\n",
        "scaling",
        "3 cores is no whole number of workers",
    ),
    (
        VALID
        + "    scaling: {cores: [1]}\n    clusters: [{name: a, kind: local}, {name: a-1core, kind: local}]\n",
        "scaling",
        "named a-1core, the name of a scaled copy",
    ),
    (VALID + "    plan: {images: 0}\n", "plan.images", "greater than 0"),
    (VALID + "    plan: {images: 10, executors: 0}\n", "plan.executors", "greater than 0"),
    (VALID + "    plan: {images: 10, cores_per_executor: 0}\n", "plan.cores_per_executor", "greater than 0"),
    (
        VALID + "    plan: {images: 10, price_per_core_hour: -1}\n",
        "plan.price_per_core_hour",
        "or equal to 0",
    ),
    (VALID + "    plan: {images: 10, deadline: soon}\n", "plan.deadline", "a duration like 2h"),
    (VALID + "    plan: {images: 10, deadline: 0h}\n", "plan.deadline", "above zero"),
    (VALID + "    plan: {images: 10, executors: 2, deadline: 2h}\n", "plan", "not both"),
    (VALID + "    plan: {pictures: 10}\n", "plan.pictures", "unknown key"),
]


@pytest.mark.parametrize(
    "master", ["local", "local[4]", "local[*]", "local[4,2]", "spark://h1:7077", "spark://h1:7077,h2:7077",
               "yarn", "k8s://https://10.0.0.1:6443"]
)  # fmt: skip
def test_every_kind_of_spark_master_is_accepted(tmp_path: Path, master: str) -> None:
    text = VALID + f"    spark: {{master: '{master}', driver_memory: 512m, executor_memory: 4G}}\n"
    assert load_config(write_config(tmp_path, text)).spark.master == master


def test_arrow_max_bytes_takes_spark_size_syntax_as_every_other_size(tmp_path: Path) -> None:
    text = (
        VALID + "    spark: {arrow_max_bytes: [64m, 1k, 2000], conf: {spark.executor.memoryOverhead: 512}}\n"
    )
    config = load_config(write_config(tmp_path, text))
    assert config.spark.arrow_max_bytes == [64 * 2**20, 1024, 2000]
    assert sorted(a.arrow_max_bytes for a in axes_grid(config)) == [1024, 2000, 64 * 2**20]


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


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ("spark: {executor_memory: 4g}\nclusters: [{name: s, kind: standalone, worker_memory: 1g}]",
         "an executor needs 4g (spark.executor_memory), more than a worker offers (worker_memory: 1g)"),
        ("clusters: [{name: s, kind: standalone, worker_memory: 512m}]",
         "an executor needs 1g (spark.executor_memory)"),
        ("spark: {task_cpus: [1, 8]}\nclusters: [{name: s, kind: standalone, worker_cores: 4}]",
         "a task needs 8 cores (spark.task_cpus), more than a worker has (worker_cores: 4)"),
    ],
)  # fmt: skip
def test_a_standalone_cluster_that_could_never_run_a_task_is_refused(tmp_path, settings, words) -> None:
    path = write_config(tmp_path, "dataset: {sizes: [4]}\nstrategies: [udf]\n" + settings + "\n")
    with pytest.raises(UserError, match="cluster s: ") as caught:
        load_config(path)
    assert words in str(caught.value)


def test_a_standalone_cluster_with_room_for_one_executor_is_accepted(tmp_path) -> None:
    body = "dataset: {sizes: [4]}\nstrategies: [udf]\nspark: {executor_memory: 1024m}\n"
    path = write_config(tmp_path, body + "clusters: [{name: s, kind: standalone, worker_memory: 1g}]\n")
    assert load_config(path).clusters[0].worker_memory == "1g"


def test_the_estimate_bounds_a_small_run_by_its_fixed_costs_and_grows_with_its_rows(tmp_path) -> None:
    # A small run is mostly setup, calibration, sessions and the report: the estimate that missed
    # them said "at most about 1 minutes" for a run that took 1:42 on a busy machine.
    from udfbench.plan.cases import SESSION_START_S, SETUP_S, estimate_seconds

    small = load_config(
        write_config(tmp_path, "dataset: {sizes: [16, 32]}\nstrategies: [python, pandas_udf]\n")
    )
    assert estimate_seconds(small) > SETUP_S + 2 * SESSION_START_S
    bigger = small.model_copy(update={"dataset": small.dataset.model_copy(update={"sizes": [160, 320]})})
    assert estimate_seconds(bigger) > estimate_seconds(small)


def test_scaling_runs_each_cluster_once_per_core_count(tmp_path: Path) -> None:
    """One cluster per count, named so that a results row says which; cores set as scaling says."""
    config = load_config(write_config(tmp_path, VALID + "    scaling: {cores: [1, 2]}\n"))
    assert [(c.name, c.master_url()) for c in config.cluster_list()] == [
        ("local-1core", "local[1]"),
        ("local-2cores", "local[2]"),
    ]
    assert config.cluster_bases() == {"local-1core": "local", "local-2cores": "local"}
    sessions = plan(config)
    # The driver loop runs on the driver's cores whatever the cluster: once, in the first copy.
    assert [(s.cluster.name, s.strategy) for s in sessions] == [
        ("local-1core", "python"),
        ("local-1core", "udf"),
        ("local-2cores", "udf"),
    ]
    assert len(cases(config)) == 3 * 2  # sessions x sizes
    assert [cluster_cores(c, config.spark, machine_cores=8) for c in config.cluster_list()] == [1, 2]


def test_scaling_gives_a_standalone_cluster_workers_of_its_size(tmp_path: Path) -> None:
    text = (
        VALID
        + "    scaling: {cores: [2, 4]}\n    clusters: [{name: sa, kind: standalone, worker_cores: 2}]\n"
    )
    config = load_config(write_config(tmp_path, text))
    assert [(c.name, c.workers, c.worker_cores) for c in config.cluster_list()] == [
        ("sa-2cores", 1, 2),
        ("sa-4cores", 2, 2),
    ]


def test_without_scaling_the_clusters_are_those_configured(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, VALID))
    assert [c.name for c in config.cluster_list()] == ["local"]
    assert config.cluster_bases() == {"local": "local"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("1.5h", 5400), ("1h 5s", 3605)],
)
def test_a_deadline_reads_as_people_write_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


def test_a_plan_section_gives_the_plans_defaults(tmp_path: Path) -> None:
    text = (
        VALID
        + "    plan: {images: 50_000_000, cores_per_executor: 4, deadline: 2h, price_per_core_hour: 0.05}\n"
    )
    settings = load_config(write_config(tmp_path, text)).plan
    assert settings is not None
    assert (settings.images, settings.cores_per_executor, settings.deadline_s) == (50_000_000, 4, 7200)
    assert settings.executors is None and settings.price_per_core_hour == 0.05


def test_validate_refuses_more_cores_than_the_machine_has(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, VALID.replace("[python, udf]", "[python]") + "    scaling: {cores: [1, 99999]}\n"
    )
    result = run_cli("validate", str(path), timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "scaling.cores[1]: 99999 cores, but this machine has" in lines[0], (
        result.stderr
    )


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        # An empty override was ignored (the config's value ran), while ',' was an error.
        ("--strategies", "", "--strategies: expected at least one value"),
        ("--strategies", ",", "--strategies: expected at least one value"),
        ("--strategies", "python,", "--strategies: expected comma-separated values with none left empty"),
        ("--sizes", "", "--sizes: expected at least one value"),
        ("--sizes", "20,", "--sizes: expected comma-separated values with none left empty, got '20,'"),
        ("--sizes", "20,,30", "none left empty"),
        ("--model", "", "argument --model: an empty path"),
        ("--seed-images", "", "argument --seed-images: an empty path"),
    ],
)
def test_an_empty_override_is_an_error(tmp_path: Path, flag: str, value: str, words: str) -> None:
    result = run_cli("validate", str(write_config(tmp_path, VALID)), flag, value, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"udfbench: error: {words}") or words in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("output_dir: a_file", "output_dir: {tmp}/a_file is a file, not a folder"),
        ("output_dir: a_file/runs", "output_dir: {tmp}/a_file is a file, so no folder can be made in it"),
        ("name: " + "n" * 300, "name: names the run folder <time>-<name>, 316 bytes here: over the file "),
        ("spark: {master: 'local[2]', task_cpus: 4}", "spark.task_cpus: 4 is more than the 2 core(s) "),
        ("spark: {master: 'local-cluster[2, 1, 1024]', task_cpus: [1, 2]}", "spark.task_cpus: 2 is more"),
        (
            "clusters: [{name: big, kind: local, cores: 8}, {name: small, kind: local, cores: 2}]\n"
            "    spark: {task_cpus: 4}",
            "of cluster small (local[2]) has: no task could start",
        ),
    ],
)
def test_validate_refuses_what_run_would_refuse_before_its_first_case(
    tmp_path: Path, setting: str, words: str
) -> None:
    # Each of these passed validate; run refused it (File name too long, a file in the way) or
    # Spark failed the session.
    (tmp_path / "a_file").write_text("x")
    text = VALID.replace("name: t", setting) if setting.startswith("name") else VALID + f"    {setting}\n"
    result = run_cli("validate", str(write_config(tmp_path, text)), timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert words.format(tmp=tmp_path) in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "bench.yaml"]  # nothing made


def test_a_run_into_its_own_folder_does_not_need_output_dir(tmp_path: Path) -> None:
    from udfbench.measure.preflight import preflight

    (tmp_path / "a_file").write_text("x")
    config = load_config(write_config(tmp_path, VALID + "    output_dir: a_file\n"))
    assert preflight(config, tmp_path / "bench.yaml", run_folder_given=True).estimate_s > 0


def test_the_examples_say_where_their_runs_land() -> None:
    # examples/clusters.yaml said "udfbench compare reports/<that run>"; its run is in examples/reports/.
    import re

    repo = Path(__file__).parents[2]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    for example in sorted((repo / "examples").glob("*.yaml")):
        config = load_config(example)
        said = re.findall(r"udfbench (?:compare|report|history) (\S+)/<", example.read_text(encoding="utf-8"))
        said += re.findall(rf"udfbench run examples/{example.name}.*\n\s*udfbench compare (\S+)/<", readme)
        for folder in said:
            assert repo / folder == Path(config.output_dir), (example.name, folder)
