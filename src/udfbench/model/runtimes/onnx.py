"""ONNX models (.onnx) through onnxruntime on the CPU: PyTorch, scikit-learn and most other
frameworks export to ONNX, so this is how their models reach udfbench.

The input layout (NCHW, PyTorch's, or NHWC) and the image size are read from the model's one input;
a fixed batch dimension is honoured by feeding the model batches of exactly that size.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from udfbench.model.runtimes.base import IMAGE_INPUT, Dim, LoadedModel, ModelError, Runtime


def _dim(d: Any) -> Dim:
    # onnxruntime gives an int for a fixed dimension, a string or None for a symbolic one.
    return d if isinstance(d, int) and d > 0 else None


def _names(args: list[Any]) -> str:
    return ", ".join(repr(a.name) for a in args)


class OnnxModel(LoadedModel):
    def __init__(self, session: Any, data: bytes) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1:
            raise ModelError(
                f"has {len(inputs)} inputs ({_names(inputs)}); udfbench feeds one, {IMAGE_INPUT}"
            )
        if len(outputs) != 1:
            raise ModelError(f"has {len(outputs)} outputs ({_names(outputs)}); udfbench reads one")
        if inputs[0].type != "tensor(float)":
            raise ModelError(f"has input {inputs[0].name!r} of type {inputs[0].type}; udfbench feeds float32")
        self._session = session
        self._data = data
        self._input, self._output = inputs[0].name, outputs[0].name
        self.input_shape = tuple(_dim(d) for d in inputs[0].shape)
        self.output_shape = tuple(_dim(d) for d in outputs[0].shape)

    def _call(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run([self._output], {self._input: batch})[0]

    def run(self, batch: np.ndarray) -> np.ndarray:
        fixed = self.input_shape[0] if self.input_shape else None
        if fixed is None or len(batch) == fixed:
            return np.asarray(self._call(batch))
        # A fixed batch size: feed whole batches of that size, the last one padded with zeros.
        parts = []
        for start in range(0, len(batch), fixed):
            chunk = batch[start : start + fixed]
            if len(chunk) < fixed:
                padding = np.zeros((fixed - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, padding])
            parts.append(self._call(chunk))
        return np.concatenate(parts)[: len(batch)]

    def fingerprint(self) -> str:
        return hashlib.sha256(self._data).hexdigest()[:16]  # an ONNX file holds no save date

    def count_parameters(self) -> int:
        import onnx

        graph = onnx.load_model_from_string(self._data).graph
        return int(sum(np.prod(tensor.dims, dtype=np.int64) for tensor in graph.initializer))


class OnnxRuntime(Runtime):
    name = "onnx"
    module = "onnxruntime"

    def load(self, data: bytes, suffix: str, threads: int | None) -> OnnxModel:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
        try:
            session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own types for a file it cannot read
            first = (str(err).splitlines() or [type(err).__name__])[0]
            raise ModelError(f"is not an ONNX model that onnxruntime can load ({first})") from None
        model = OnnxModel(session, data)
        # 0 means onnxruntime's default: one thread per core of the machine.
        model.math_threads = options.intra_op_num_threads or os.cpu_count() or 1
        return model


RUNTIME = OnnxRuntime()
