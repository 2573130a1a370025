"""Small QONNX models built with onnx.helper for the API and CLI tests.

tiny(): x[batch, 4] -> Quant(INT4, scale 0.5) -> Relu -> MatMul(Quant(W, INT3)) -> y[batch, 3]
two_inputs(): a[batch, 4], b[batch, 4] -> Quant each -> Add -> y
Every value is a small dyadic number, so the numpy reference below is exact.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QONNX = "qonnx.custom_op.general"
W = ((np.arange(12, dtype=np.float32).reshape(4, 3) - 6) * 0.25).astype(np.float32)


def _quant(inp, scale, zero, bits, out, name):
    return helper.make_node(
        "Quant", [inp, scale, zero, bits], [out], name=name, domain=QONNX, signed=1, narrow=0, rounding_mode="ROUND"
    )


def _model(nodes, inputs, outputs, inits, name):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)])


def _consts():
    return [
        numpy_helper.from_array(np.array(0.5, np.float32), "s"),
        numpy_helper.from_array(np.array(0.0, np.float32), "z"),
        numpy_helper.from_array(np.array(4.0, np.float32), "b4"),
        numpy_helper.from_array(np.array(3.0, np.float32), "b3"),
    ]


def tiny(batch=1) -> onnx.ModelProto:
    nodes = [
        _quant("x", "s", "z", "b4", "xq", "q_in"),
        helper.make_node("Relu", ["xq"], ["xr"], name="relu"),
        _quant("W", "s", "z", "b3", "Wq", "q_w"),
        helper.make_node("MatMul", ["xr", "Wq"], ["y"], name="mm"),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        _consts() + [numpy_helper.from_array(W, "W")],
        "tiny",
    )


def two_inputs(batch=1) -> onnx.ModelProto:
    nodes = [
        _quant("a", "s", "z", "b4", "aq", "q_a"),
        _quant("b", "s", "z", "b4", "bq", "q_b"),
        helper.make_node("Add", ["aq", "bq"], ["y"], name="add"),
    ]
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [batch, 4])  # noqa: E731
    return _model(nodes, [vi("a"), vi("b")], [vi("y")], _consts(), "two_inputs")


def conv_gemm(batch="N") -> onnx.ModelProto:
    """x[N,2,5,5] -> Conv(W: Quant INT4 [3,2,3,3], B: Quant 8-bit [3]) -> Flatten -> Gemm(float [27,4], bias [4])."""
    rng = np.random.default_rng(0)
    inits = _consts() + [
        numpy_helper.from_array(np.array(8.0, np.float32), "b8"),
        numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "Wc"),
        numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "Bc"),
        numpy_helper.from_array(rng.standard_normal((27, 4)).astype(np.float32), "Wg"),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "Bg"),
    ]
    nodes = [
        _quant("Wc", "s", "z", "b4", "Wcq", "q_wc"),
        _quant("Bc", "s", "z", "b8", "Bcq", "q_bc"),
        helper.make_node("Conv", ["x", "Wcq", "Bcq"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("Flatten", ["c"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "Wg", "Bg"], ["y"], name="fc"),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])],
        inits,
        "conv_gemm",
    )


def quant_ref(x, scale=0.5, bits=4):
    """QONNX Quant, signed, not narrow, ROUND (half to even), zero point 0, in float64."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return np.round(np.clip(x.astype(np.float64) / scale, lo, hi)) * scale


def tiny_ref(x):
    """The tiny model's output computed in float64 (exact here: every value is dyadic)."""
    xr = np.maximum(quant_ref(x), 0)
    return (xr @ quant_ref(W, bits=3)).astype(np.float32)


def save(model, path):
    onnx.save(model, str(path))
    return str(path)
