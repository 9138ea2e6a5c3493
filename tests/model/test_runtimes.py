"""Model runtimes: ONNX models beside Keras, read, fed and checked the same way.

The ONNX models are built here with the ``onnx`` package's helpers (no downloads): a global average
pool, a linear layer and a softmax, small enough to compute again in numpy.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from tests.commands import run_cli, write_config
from udfbench.errors import UserError
from udfbench.model.predictor import Predictor
from udfbench.model.runtimes import MODEL_SUFFIXES, get_runtime, runtime_for_suffix
from udfbench.model.runtimes.base import ModelError, image_input
from udfbench.model.spec import prepare_model
from udfbench.plan.config import ModelConfig
from udfbench.plan.names import RUNTIME_MODULES

# The linear layer of every test model: 3 channel means -> 2 (or 3) class logits.
WEIGHTS = np.array([[2.0, -1.0, 0.5], [-1.5, 1.0, 0.25], [0.5, 0.5, -2.0]], dtype=np.float32)
BIAS = np.array([0.1, -0.2, 0.3], dtype=np.float32)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def pool_linear_softmax(
    path: Path,
    *,
    layout: str = "NCHW",
    batch: int | str = "N",
    size: int = 8,
    classes: int = 2,
    inputs: int = 1,
    softmax: bool = True,
) -> Path:
    """GlobalAveragePool -> Flatten -> Gemm -> Softmax; NHWC models transpose to NCHW first."""
    shape = [batch, 3, size, size] if layout == "NCHW" else [batch, size, size, 3]
    nodes = []
    first = "image"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
        first = "nchw"
    nodes += [
        helper.make_node("GlobalAveragePool", [first], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"], transB=1),
    ]
    nodes.append(
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1)
        if softmax
        else helper.make_node("Identity", ["logits"], ["probs"])
    )
    graph_inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)]
    graph_inputs += [
        helper.make_tensor_value_info(f"extra{i}", TensorProto.FLOAT, [batch, 1]) for i in range(1, inputs)
    ]
    graph = helper.make_graph(
        nodes,
        "pool_linear_softmax",
        graph_inputs,
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, classes])],
        initializer=[
            numpy_helper.from_array(WEIGHTS[:classes], "w"),
            numpy_helper.from_array(BIAS[:classes], "b"),
        ],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _rank2_model(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], axis=1)],
        "rank2",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _numpy_probabilities(images: np.ndarray, classes: int = 2, normalize: bool = True) -> np.ndarray:
    """The test graph in numpy, on NHWC images in [0, 1]."""
    x = (images - np.float32(MEAN)) / np.float32(STD) if normalize else images
    logits = x.mean(axis=(1, 2)) @ WEIGHTS[:classes].T + BIAS[:classes]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_file_suffix_picks_a_registered_runtime() -> None:
    assert {s: runtime_for_suffix(s) for s in MODEL_SUFFIXES} == {
        ".keras": "keras",
        ".h5": "keras",
        ".onnx": "onnx",
    }
    assert all(get_runtime(name).name == name for name in RUNTIME_MODULES)


def _png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def _known_images() -> list[np.ndarray]:
    """Three 8x8 RGB images (uint8) whose channel means differ enough to change the predicted class."""
    rng = np.random.default_rng(5)
    return [
        np.clip(rng.normal(loc, 30, (8, 8, 3)), 0, 255).astype(np.uint8)
        for loc in ([220, 40, 40], [40, 220, 40], [40, 40, 220])
    ]


def _normalized(path: Path, classes: list[str] | None = None) -> ModelConfig:
    return ModelConfig(path=str(path), classes=classes or ["a", "b"], normalize={"mean": MEAN, "std": STD})


@pytest.mark.parametrize(("layout", "batch", "size"), [("NCHW", "N", 8), ("NHWC", 2, 6), ("NCHW", 1, 10)])
def test_layout_and_image_size_are_read_from_the_onnx_input(tmp_path, layout, batch, size) -> None:
    path = pool_linear_softmax(tmp_path / "m.onnx", layout=layout, batch=batch, size=size)
    spec, _ = prepare_model(ModelConfig(path=str(path), classes=["a", "b"]), seed=0, config_path="x.yaml")
    assert (spec.runtime, spec.layout, spec.image_size) == ("onnx", layout, (size, size))
    assert spec.output == "softmax" and spec.parameters == 2 * 3 + 2  # Gemm weights and bias


def test_image_input_reads_either_layout_and_rejects_other_shapes() -> None:
    assert image_input((None, 3, 224, 200)) == ("NCHW", (224, 200))
    assert image_input((4, 224, 200, 3)) == ("NHWC", (224, 200))
    assert image_input((None, None, None, 3)) == ("NHWC", (None, None))
    for shape in [(None, 1, 28, 28), (None, 3, 8), (None, 8, 8, 4)]:
        with pytest.raises(ModelError, match="not an image tensor"):
            image_input(shape)


@pytest.mark.parametrize(("layout", "batch"), [("NCHW", "N"), ("NHWC", 2)])
def test_onnx_predictions_equal_the_same_graph_in_numpy_normalization_included(
    tmp_path, layout, batch
) -> None:
    path = pool_linear_softmax(tmp_path / "m.onnx", layout=layout, batch=batch)
    spec, _ = prepare_model(_normalized(path), seed=0, config_path="x.yaml")
    # Batches of 5 through a model of fixed batch 2: padded and trimmed, never seen by the caller.
    predictor = Predictor.for_spec(spec, spec.data, batch_size=5, skip_bad=False, threads=1)
    images = _known_images()
    labels, scores = predictor.predict([_png(image) for image in images])
    expected = _numpy_probabilities(np.stack(images).astype(np.float32) / 255)
    assert np.array_equal(labels, expected.argmax(axis=1))
    assert np.allclose(scores, expected.max(axis=1), atol=1e-5)
    # Normalization changes the answer, so the comparison above would notice it missing.
    unnormalized = _numpy_probabilities(np.stack(images).astype(np.float32) / 255, normalize=False)
    assert not np.array_equal(unnormalized.argmax(axis=1), labels)


def test_normalization_applies_to_keras_models_too(tmp_path) -> None:
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.layers[-1].set_weights([WEIGHTS[:2, :].T, BIAS[:2]])
    model.save(tmp_path / "m.keras")
    spec, _ = prepare_model(_normalized(tmp_path / "m.keras"), seed=0, config_path="x.yaml")
    assert (spec.runtime, spec.layout) == ("keras", "NHWC")
    images = np.stack(_known_images()).astype(np.float32) / 255
    probabilities = Predictor.for_spec(spec, spec.data, 8, False, None).probabilities(images)
    assert np.allclose(probabilities, _numpy_probabilities(images), atol=1e-5)


def test_the_onnx_session_is_built_once_per_process_with_the_threads_setting(tmp_path) -> None:
    path = pool_linear_softmax(tmp_path / "threads.onnx", size=4)
    spec, _ = prepare_model(ModelConfig(path=str(path), classes=["a", "b"]), seed=0, config_path="x.yaml")
    predictor = Predictor.for_spec(spec, spec.data, batch_size=4, skip_bad=False, threads=2)
    model = predictor.model()
    assert predictor.model() is model
    assert model._session.get_session_options().intra_op_num_threads == 2


def _text(path: Path) -> Path:
    path.write_text("this is not a model\n", encoding="utf-8")
    return path


BAD_MODELS = {
    "text named .keras": (lambda d: _text(d / "model.keras"), "model.path", "is not a Keras model"),
    "text named .h5": (lambda d: _text(d / "model.h5"), "model.path", "is not a Keras model"),
    "text named .onnx": (lambda d: _text(d / "model.onnx"), "model.path", "is not an ONNX model"),
    "two inputs": (lambda d: pool_linear_softmax(d / "two.onnx", inputs=2), "model.path", "has 2 inputs"),
    "rank-2 input": (lambda d: _rank2_model(d / "flat.onnx"), "model.path", r"shape \[N, 2\], not an image"),
    "3 classes for 2": (
        lambda d: pool_linear_softmax(d / "three.onnx", classes=3),
        "model.classes",
        "neither one sigmoid nor a softmax over the 2 classes",
    ),
    "logits": (
        lambda d: pool_linear_softmax(d / "logits.onnx", softmax=False),
        "model.path",
        "not logits",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_a_model_udfbench_cannot_use_is_one_error_naming_the_file(tmp_path, case) -> None:
    make, field, problem = BAD_MODELS[case]
    path = make(tmp_path)
    with pytest.raises(UserError, match=problem) as caught:
        prepare_model(ModelConfig(path=str(path), classes=["a", "b"]), seed=0, config_path="x.yaml")
    assert caught.value.where == f"x.yaml: {field}"
    assert str(path) in caught.value.message and "udfbench-model-" not in str(caught.value)


BAD_CONFIG = """
dataset: {{sizes: [4]}}
model: {{path: {model}, classes: [a, b]}}
strategies: [python]
warmup: 0
repeats: 1
"""


@pytest.mark.parametrize("verb", ["validate", "run"])
def test_the_cli_refuses_a_bad_model_in_one_line(tmp_path, verb) -> None:
    model = pool_linear_softmax(tmp_path / "two.onnx", inputs=2)
    config = write_config(tmp_path, BAD_CONFIG.format(model=model.name))
    result = run_cli(verb, str(config), *(["--out", str(tmp_path / "run")] if verb == "run" else []))
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(model) in lines[0] and "has 2 inputs" in lines[0], lines
    assert lines[0].startswith(f"udfbench: error: {config}: model.path: ")


def test_the_cli_refuses_a_normalize_block_without_3_numbers(tmp_path) -> None:
    model = pool_linear_softmax(tmp_path / "m.onnx")
    config = write_config(
        tmp_path,
        BAD_CONFIG.format(model=model.name).replace(
            "classes: [a, b]}", "normalize: {mean: [0.5, 0.5], std: [1, 1, 1]}}"
        ),
    )
    result = run_cli("validate", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"udfbench: error: {config}: model.normalize.mean: needs 3 numbers, one per channel "
        "(red, green, blue), got 2"
    )


def test_validate_keeps_the_runtimes_own_lines_off_the_terminal(tmp_path) -> None:
    # onnxruntime warned about this graph's declared output (MergeShapeInfo) and TensorFlow printed
    # its start-up lines on stderr, before or without udfbench's one line.
    import keras

    model = onnx.load(pool_linear_softmax(tmp_path / "m.onnx"))
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 3  # declared 3, computes 2
    (tmp_path / "declared.onnx").write_bytes(model.SerializeToString())
    small = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    small.save(tmp_path / "small.keras")
    config = write_config(tmp_path, BAD_CONFIG.format(model="m.onnx"))
    for name in ("declared.onnx", "small.keras"):
        # TensorFlow's own default level: every start-up line it has is printed.
        result = run_cli(
            "validate", str(config), "--model", str(tmp_path / name), env={"TF_CPP_MIN_LOG_LEVEL": "0"}
        )
        assert result.returncode == 0 and result.stderr == "", result.stderr
