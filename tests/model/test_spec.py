"""The built-in CNN, users' models, and the bytes that travel to the workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.commands import run_cli, write_config
from udfbench.errors import UserError
from udfbench.model.runtimes import get_runtime
from udfbench.model.spec import build_builtin_cnn, prepare_model
from udfbench.plan.config import ModelConfig


def _softmax_model(path: Path, classes: int = 3, size: tuple[int, int] = (40, 56)) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((*size, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
    model.save(path)
    return path


def test_builtin_cnn_is_the_founding_architecture_and_seeded() -> None:
    model = build_builtin_cnn(192, seed=1)
    convs = [layer.filters for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert convs == [32, 64, 128]
    assert model.output_shape == (None, 1) and model.layers[-1].activation.__name__ == "sigmoid"
    again = build_builtin_cnn(192, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), again.get_weights(), strict=True))


def test_saved_bytes_round_trip_to_the_same_predictions(small_model) -> None:
    # small_model is the built-in CNN of seed 3 (conftest) as bytes: what the workers load.
    built = build_builtin_cnn(small_model.image_size[0], seed=3)
    loaded = get_runtime(small_model.runtime).load(small_model.data, small_model.suffix, threads=None)
    x = np.random.default_rng(0).random((3, *small_model.image_size, 3), dtype=np.float32)
    assert np.allclose(built.predict(x, verbose=0), loaded.run(x), atol=1e-6)


def test_user_model_input_size_and_classes_are_read_from_the_model(tmp_path: Path) -> None:
    path = _softmax_model(tmp_path / "m.keras")
    spec, load_time = prepare_model(
        ModelConfig(path=str(path), classes=["a", "b", "c"]), seed=0, config_path="x.yaml"
    )
    assert spec.image_size == (40, 56) and spec.output == "softmax" and spec.classes == ("a", "b", "c")
    assert load_time > 0  # the load was timed (a presence check, not a bound)
    with pytest.raises(UserError, match="model.classes"):
        prepare_model(ModelConfig(path=str(path), classes=["a", "b"]), seed=0, config_path="x.yaml")


def test_a_file_that_is_not_a_model_is_one_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.keras"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="is not a Keras model") as caught:
        prepare_model(ModelConfig(path=str(bogus)), seed=0, config_path="x.yaml")
    assert caught.value.where == "x.yaml: model.path" and str(bogus) in caught.value.message


@pytest.mark.slow
def test_run_with_a_user_softmax_model_from_the_command_line(tmp_path: Path) -> None:
    model = _softmax_model(tmp_path / "three.keras")
    config = write_config(
        tmp_path,
        """
        dataset: {sizes: [9]}
        model: {classes: [cat, dog, fox]}
        strategies: [python, pandas_udf]
        warmup: 0
        repeats: 1
        spark: {master: "local[2]", driver_memory: 1g}
        """,
    )
    result = run_cli("run", str(config), "--model", str(model), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert (results["status"] == "ok").all() and (results["rows"] == 9).all()
    assert (pd.read_csv(tmp_path / "run" / "parity.csv")["status"] == "ok").all()


def test_the_digest_names_what_the_model_computes_not_when_it_was_saved(tmp_path: Path) -> None:
    # Keras writes the save date into every .keras file, so the bytes differ between runs.
    first, _ = prepare_model(ModelConfig(image_size=32), seed=3, config_path="x")
    again, _ = prepare_model(ModelConfig(image_size=32), seed=3, config_path="x")
    other, _ = prepare_model(ModelConfig(image_size=32), seed=4, config_path="x")
    assert first.digest == again.digest != other.digest
