"""Calibration: the limit's arithmetic, FLOPs counted from a model's layers, a real (tiny) calibration
run by one process per core, and the machine facts that tell two CPUs of one kind apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from udfbench import environment
from udfbench.calibration import CalibrationFailed, calibrate, count_keras_flops, image_weights
from udfbench.config import ModelConfig
from udfbench.dataset import SeedImage
from udfbench.limits import limit_images_per_s
from udfbench.model import ModelSpec
from udfbench.results import Calibration


def test_the_limit_is_cores_over_decode_plus_the_fastest_predict() -> None:
    # 2 cores, 5 ms decode, best predict 15 ms (batch 32): each core does 1000 / 20 = 50 images a second.
    limit = limit_images_per_s(2, 5.0, {1: 25.0, 32: 15.0, 64: 16.0})
    assert limit.images_per_s == pytest.approx(100.0)
    assert limit.reason is None


def test_no_limit_without_the_cores() -> None:
    limit = limit_images_per_s(None, 5.0, {1: 25.0})
    assert limit.images_per_s is None
    assert "cores" in limit.reason


def test_flops_of_a_small_model_are_the_hand_count() -> None:
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),  # 6x6x4 outputs, each 3*3*3 multiply-adds, a bias
            keras.layers.MaxPooling2D(),  # 3x3x4 outputs, each a max over 2*2
            keras.layers.Flatten(),
            keras.layers.Dense(2),  # 2 outputs, each 36 multiply-adds, a bias
        ]
    )
    conv = 2 * (6 * 6 * 4) * (3 * 3 * 3) + 6 * 6 * 4
    pool = 3 * 3 * 4 * (2 * 2)
    dense = 2 * 2 * 36 + 2
    assert count_keras_flops(model) == (conv + pool + dense, None)


def test_flops_of_the_builtin_cnn_are_what_tensorflows_profiler_counts() -> None:
    from udfbench.model import build_builtin_cnn

    # TensorFlow's v1 profiler (float_operation) on the traced model at 32x32 gives this figure.
    assert count_keras_flops(build_builtin_cnn(32, seed=1)) == (10_357_697, None)


def test_flops_that_cannot_be_counted_are_none_with_the_reason() -> None:
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2DTranspose(2, 3, name="up")])
    flops, reason = count_keras_flops(model)
    assert flops is None and "'up'" in reason and "Conv2DTranspose" in reason
    flops, reason = count_keras_flops(object())
    assert flops is None and "Keras" in reason


def images(seeds: list[SeedImage]) -> list[tuple[str, str]]:
    return [(seed.path, seed.path) for seed in seeds]


def test_image_weights_count_the_draws() -> None:
    rows = pd.DataFrame({"path": ["a.jpg", "b.jpg", "a.jpg", "a.jpg"]})
    assert image_weights(["a.jpg", "b.jpg", "c.jpg"], rows) == [3.0, 1.0, 0.0]


@pytest.fixture(scope="module")
def tiny() -> ModelSpec:
    from udfbench.model import prepare_model

    spec, _ = prepare_model(ModelConfig(image_size=32), seed=1, config_path="test")
    return spec


def tiny_seeds(folder, bad: bool) -> list[SeedImage]:
    rng = np.random.default_rng(0)
    seeds = []
    for index in range(3):
        path = folder / f"cat.{index}.jpeg"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        seeds.append(SeedImage(str(path), "cat"))
    if bad:
        (folder / "dog.bad.jpeg").write_bytes(b"not an image")
        seeds.append(SeedImage(str(folder / "dog.bad.jpeg"), "dog"))
    return seeds


def test_a_calibration_measures_every_batch_size_with_one_process_per_core(tmp_path, tiny) -> None:
    seeds = tiny_seeds(tmp_path, bad=True)
    result = calibrate(
        tiny, [(s.path, s.path) for s in seeds], None, [4, 8], cores=2, skip_bad=True, seconds_budget=0.5
    )
    assert result.processes == result.cores == 2
    assert set(result.predict_ms) == {1, 4, 8}
    assert all(ms > 0 for ms in result.predict_ms.values()) and result.decode_ms > 0
    assert result.predict_ms[result.best_batch_size] == min(result.predict_ms.values())
    assert (result.images_used, result.images_skipped) == (3, 1)
    assert result.limit_images_per_s == limit_images_per_s(2, result.decode_ms, result.predict_ms)[0]
    assert result.limit_for(None).images_per_s is None
    assert result.gflop_per_image == count_flops_of(tiny) / 1e9 and result.gflop_per_s > 0
    assert result.repeats >= 3
    assert Calibration.model_validate_json(result.model_dump_json()) == result  # as meta.json keeps it


def count_flops_of(spec) -> int:
    from udfbench.runtimes import get_runtime

    return get_runtime(spec.runtime).load(spec.data, spec.suffix, None).count_flops().flops


def test_an_unreadable_seed_fails_a_calibration_that_may_not_skip(tmp_path, tiny) -> None:
    seeds = tiny_seeds(tmp_path, bad=True)
    with pytest.raises(CalibrationFailed, match="dog.bad.jpeg"):
        calibrate(
            tiny, [(s.path, s.path) for s in seeds], None, [4], cores=1, skip_bad=False, seconds_budget=0.1
        )


def test_machine_facts_tell_cpus_of_one_kind_apart() -> None:
    facts = environment.machine()
    for key in ("cpu", "cpu_vendor", "cpu_family", "cpu_model", "cpu_stepping", "cpu_vector_flags"):
        assert key in facts
    if facts["cpu_vector_flags"] is not None:
        assert set(facts["cpu_vector_flags"]) <= set(environment.VECTOR_FLAGS)


def test_machine_facts_read_cpuinfo_and_fall_back_without_it(monkeypatch) -> None:
    monkeypatch.setattr(
        environment,
        "_cpuinfo",
        lambda: {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "143", "stepping": "8",
                 "model name": "Xeon", "flags": "fpu sse4_2 avx2 avx512f amx_tile"},
    )  # fmt: skip
    facts = environment.machine()
    assert (facts["cpu_vendor"], facts["cpu_family"], facts["cpu_model"], facts["cpu_stepping"]) == (
        "GenuineIntel", "6", "143", "8",
    )  # fmt: skip
    assert facts["cpu_vector_flags"] == ["sse4_2", "avx2", "avx512f", "amx_tile"]
    monkeypatch.setattr(environment, "_cpuinfo", dict)
    facts = environment.machine()
    assert facts["cpu_vendor"] is None and facts["cpu_vector_flags"] is None and facts["cpu"]
