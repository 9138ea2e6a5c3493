"""Calibration: the limit's arithmetic, FLOPs counted from a model's layers, a real (tiny) calibration
run by one process per core, and the machine facts that tell two CPUs of one kind apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from udfbench.inputs.seeds import SeedImage
from udfbench.measure import facts
from udfbench.measure.calibration import CalibrationFailed, calibrate, image_weights
from udfbench.model.runtimes.keras import count_keras_flops
from udfbench.model.spec import ModelSpec
from udfbench.plan.config import ModelConfig
from udfbench.rundir.limits import limit_images_per_s
from udfbench.rundir.schema import Calibration


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
    from udfbench.model.spec import build_builtin_cnn

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
    from udfbench.model.spec import prepare_model

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
    from udfbench.model.runtimes import get_runtime

    return get_runtime(spec.runtime).load(spec.data, spec.suffix, None).count_flops().flops


def test_an_unreadable_seed_fails_a_calibration_that_may_not_skip(tmp_path, tiny) -> None:
    seeds = tiny_seeds(tmp_path, bad=True)
    with pytest.raises(CalibrationFailed, match="dog.bad.jpeg"):
        calibrate(
            tiny, [(s.path, s.path) for s in seeds], None, [4], cores=1, skip_bad=False, seconds_budget=0.1
        )


def test_machine_facts_tell_cpus_of_one_kind_apart() -> None:
    found = facts.machine()
    for key in ("cpu", "cpu_vendor", "cpu_family", "cpu_model", "cpu_stepping", "cpu_vector_flags"):
        assert key in found
    if found["cpu_vector_flags"] is not None:
        assert set(found["cpu_vector_flags"]) <= set(facts.VECTOR_FLAGS)


def test_machine_facts_read_cpuinfo_and_fall_back_without_it() -> None:
    found = facts.cpu_facts(
        {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "143", "stepping": "8",
         "model name": "Xeon", "flags": "fpu sse4_2 avx2 avx512f amx_tile"},
    )  # fmt: skip
    assert (found["cpu_vendor"], found["cpu_family"], found["cpu_model"], found["cpu_stepping"]) == (
        "GenuineIntel", "6", "143", "8",
    )  # fmt: skip
    assert found["cpu_vector_flags"] == ["sse4_2", "avx2", "avx512f", "amx_tile"]
    found = facts.cpu_facts({})
    assert found["cpu_vendor"] is None and found["cpu_vector_flags"] is None and found["cpu"]


def a_round(when: str, decode_ms: float, foreign_cpu_pct: float | None) -> Calibration:
    """A one-round calibration as ``calibrate`` returns it, its foreign CPU written here, not sampled."""
    from udfbench.measure.calibration import _from_rounds
    from udfbench.rundir.schema import CalibrationRound

    predict = {1: 20.0, 32: 10.0}
    measured = CalibrationRound(
        when=when, decode_ms=decode_ms, predict_ms=predict, repeats=3, seconds=2.0,
        limit_images_per_s=limit_images_per_s(2, decode_ms, predict).images_per_s,
        foreign_cpu_pct=foreign_cpu_pct,
    )  # fmt: skip
    return _from_rounds([measured], gflop_per_image=0.1, flops_unknown_reason=None, cores=2, processes=2,
                        images_used=3, images_skipped=0)  # fmt: skip


def test_the_limit_is_the_best_quiet_round_and_every_round_is_kept() -> None:
    from udfbench.measure.calibration import add_round

    # Decode 10 ms: 2 cores x 1000 / (10 + 10) = 100 images/s; 5 ms: 133; 30 ms: 50.
    calibration = a_round("before the first case", 30.0, 2.0)
    calibration = add_round(calibration, a_round("before local/udf", 5.0, 60.0))  # best, but busy
    calibration = add_round(calibration, a_round("before local/pandas_udf", 10.0, 4.0))
    assert [r.when for r in calibration.rounds] == [
        "before the first case", "before local/udf", "before local/pandas_udf"
    ]  # fmt: skip
    assert calibration.limit_images_per_s == pytest.approx(100.0) and calibration.decode_ms == 10.0
    assert not calibration.busy and calibration.foreign_cpu_pct == 4.0
    assert calibration.limit_spread == pytest.approx((50.0, 100.0))  # of the quiet rounds
    assert calibration.seconds == pytest.approx(6.0)
    assert Calibration.model_validate_json(calibration.model_dump_json()) == calibration  # meta.json


def test_a_calibration_whose_every_round_was_busy_keeps_its_best_limit_marked_busy() -> None:
    from udfbench.measure.calibration import add_round

    calibration = add_round(a_round("before the first case", 30.0, 55.0), a_round("before x", 10.0, 80.0))
    assert calibration.busy and calibration.limit_images_per_s == pytest.approx(100.0)
    assert calibration.model_dump()["busy"] is True  # meta.json says so
    assert calibration.foreign_cpu_pct == 80.0 and calibration.limit_spread == pytest.approx((50.0, 100.0))


def test_a_calibration_from_before_rounds_reads_and_counts_as_the_first_round() -> None:
    from udfbench.measure.calibration import add_round

    old = a_round("", 30.0, None).model_dump(exclude={"rounds"})
    older = Calibration.model_validate(old | {"foreign_cpu_pct": None})  # meta.json of an older run
    assert older.rounds == [] and not older.busy and older.limit_spread is None
    calibration = add_round(older, a_round("before local/udf", 10.0, 3.0))
    assert [r.when for r in calibration.rounds] == ["before the first case", "before local/udf"]
    assert calibration.limit_images_per_s == pytest.approx(100.0)


def test_rounds_are_spread_over_the_sessions() -> None:
    from udfbench.measure.run import rounds_before

    assert rounds_before(1) == set()
    assert rounds_before(2) == {1}
    assert rounds_before(3) == {1, 2}
    assert rounds_before(12) == {4, 8}
