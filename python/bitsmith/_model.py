"""A loaded model: inputs/outputs, run(), call syntax, text listing."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._errors import InputError


class TensorInfo(NamedTuple):
    """A model input or output as the file declares it (after inference)."""

    name: str
    shape: tuple | None  # None for a free dimension; the whole shape is None if unknown
    dtype: str  # storage: "float32" or "int64"
    qtype: str  # quantized type: "FLOAT32", "INT4", "SCALEDINT<8>", ...


def _torch_tensor_type():
    # Only look at torch if the caller already imported it: importing torch is slow.
    torch = sys.modules.get("torch")
    return getattr(torch, "Tensor", None) if torch is not None else None


def _as_array(source: str, name: str, value: Any):
    """An object the extension reads without copying: numpy arrays stay as they are,
    torch tensors are detached and shared through .numpy() (copied only off the CPU)."""
    if isinstance(value, np.ndarray):
        if not value.dtype.isnative:
            # Same values in the machine's byte order; not a change of type.
            return value.astype(value.dtype.newbyteorder("="))
        return value
    tensor_type = _torch_tensor_type()
    if tensor_type is not None and isinstance(value, tensor_type):
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        try:
            return t.resolve_conj().resolve_neg().numpy()
        except (TypeError, RuntimeError):
            got = str(t.dtype).removeprefix("torch.")
            raise InputError(f"{source}: input '{name}' must be float32, got {got}") from None
    return np.asarray(value)


class Model:
    """A quantized network loaded by :func:`bitsmith.load`.

    ``model.run({"x": x})`` returns every output by name; ``model(x)`` returns the
    first output. The default mode is ``"exact"``: every rounding decision is taken on
    the true value; ``"float"`` reproduces qonnx/onnxruntime float32 arithmetic.
    """

    def __init__(self, graph: _core.Graph, engine: str = "fast", threads: int | None = None):
        if engine not in ("fast", "reference"):
            raise ValueError(f"engine must be 'fast' or 'reference', got {engine!r}")
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ValueError(f"threads must be a positive int or None (all cores), got {threads!r}")
        self._graph = graph
        self._engine = engine
        self._threads = threads or 0
        self._inputs = [TensorInfo(*v) for v in graph.inputs]
        self._outputs = [TensorInfo(*v) for v in graph.outputs]

    @property
    def source(self) -> str:
        """The file path the model came from ("<bytes>" when loaded from memory)."""
        return self._graph.source

    @property
    def name(self) -> str:
        return self._graph.name

    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def run(
        self,
        feeds: Mapping[str, Any] | Any,
        mode: str = "exact",
        intermediates: bool = False,
        allow_nan: bool = False,
        engine: str | None = None,
        threads: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs the model on ``feeds`` (input name -> numpy array or torch tensor).

        Inputs must be float32 (int64 where the model declares int64); any batch size.
        Returns the outputs by name, or every value when ``intermediates`` is true.
        ``engine`` and ``threads`` override the model's defaults for this run; the fast
        engine gives the same bits as the reference in exact mode (float mode and
        ``intermediates`` always use the reference executor).
        """
        if not isinstance(feeds, Mapping):
            if len(self._inputs) != 1:
                raise TypeError("feeds must be a dict of input name -> array for a model with several inputs")
            feeds = {self._inputs[0].name: feeds}
        arrays = {}
        for key, value in feeds.items():
            if not isinstance(key, str):
                raise TypeError(f"input names must be str, got {type(key).__name__}")
            arrays[key] = _as_array(self.source, key, value)
        engine = self._engine if engine is None else engine
        threads = self._threads if threads is None else threads
        return self._graph.run(arrays, mode=mode, intermediates=intermediates, allow_nan=allow_nan,
                               engine=engine, threads=threads)

    def __call__(self, *args: Any, mode: str = "exact", allow_nan: bool = False, engine: str | None = None,
                 threads: int | None = None) -> np.ndarray:
        """``model(x, ...)``: positional arrays in input order; returns the first output."""
        if len(args) != len(self._inputs):
            names = ", ".join(f"'{i.name}'" for i in self._inputs)
            raise InputError(
                f"{self.source}: the model takes {len(self._inputs)} input(s) ({names}), got {len(args)}"
            )
        feeds = {info.name: value for info, value in zip(self._inputs, args)}
        out = self.run(feeds, mode=mode, allow_nan=allow_nan, engine=engine, threads=threads)
        return out[self._outputs[0].name]

    def text(self, lowered: bool = False) -> str:
        """A readable listing: inputs, constants, nodes with their output types
        (``lowered=True``: the integer graph the fast engine runs)."""
        return self._graph.lowered_text() if lowered else self._graph.text()

    def lowering(self) -> dict[str, list[str]]:
        """What the fast engine fused (``"lowered"``) and the nodes it leaves to the
        reference path with the reason (``"reference_path"``)."""
        return self._graph.lowering()

    def __repr__(self) -> str:
        ins = ", ".join(f"{i.name}{_shape_str(i.shape)}" for i in self._inputs)
        outs = ", ".join(f"{o.name}{_shape_str(o.shape)}" for o in self._outputs)
        return f"<bitsmith.Model {self.source!r} ({ins}) -> ({outs})>"


def _shape_str(shape) -> str:
    if shape is None:
        return "[?]"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def load(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview | Any, engine: str = "fast",
         threads: int | None = None) -> Model:
    """Loads a QONNX/ONNX model from a file path, from its serialized bytes, or from an
    ``onnx.ModelProto``. Parsing, verification and shape inference happen here, so a
    model that loads is a model that runs.

    ``engine="fast"`` (default) runs exact mode on the integer engine (lowered on the
    first exact run); ``"reference"`` uses the op-by-op reference executor. Both give
    the same bits. ``threads``: the integer kernels' threads (None: all cores or
    ``BITSMITH_THREADS``)."""
    src = path_or_bytes
    if isinstance(src, (bytes, bytearray, memoryview)):
        return Model(_core.load_bytes(bytes(src)), engine, threads)
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return Model(_core.load_file(path), engine, threads)
    serialize = getattr(src, "SerializeToString", None)
    if callable(serialize):
        return Model(_core.load_bytes(serialize(), "<ModelProto>"), engine, threads)
    raise TypeError(
        f"bitsmith.load() takes a path, bytes or an onnx.ModelProto, got {type(src).__name__}"
    )
