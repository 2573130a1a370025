"""Turn a QONNX model into plain ONNX that onnxruntime can run, for the benchmark's onnxruntime rows.

Two recipes, tried in this order by `to_onnxruntime_model`:
  1. "QCDQ": qonnx's own QuantToQCDQ rewrite (Quant -> QuantizeLinear, Clip, DequantizeLinear). It applies only
     to Quant nodes with constant scale, zero zero point, 2..8 bits and ROUND; if any Quant is left over, recipe 2
     is used instead.
  2. "float subgraph": Quant nodes on constants are folded into float initializers (qonnx's FoldConstants with
     quantization ops not preserved), and each remaining activation Quant becomes the same computation written
     with standard ops: Div(scale), Add(zero point), Clip(min, max), Round/Floor/Ceil, Sub(zero point), Mul(scale).
     That is qonnx's own float32 formula step by step, so it should match qonnx's executor bit for bit.
Both start from qonnx's cleanup (shape inference, constant folding, finn -> qonnx domain) at a fixed batch size.
"""

import numpy as np
import onnx
from onnx import helper, numpy_helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model

_ROUNDING_OPS = {"ROUND": "Round", "HALF_EVEN": "Round", "FLOOR": "Floor", "CEIL": "Ceil"}


def cleaned(path, batch):
    """qonnx's cleanup with the batch dimension fixed to `batch` (qonnx's executor needs fixed shapes)."""
    return cleanup_model(ModelWrapper(str(path)), override_inpsize=batch)


def _quant_nodes(model):
    return [n for n in model.graph.node if n.op_type in ("Quant", "BipolarQuant")]


def _qcdq(path, batch):
    from qonnx.transformation.qonnx_to_qcdq import QuantToQCDQ

    model = cleaned(path, batch)
    model = model.transform(QuantToQCDQ())
    left = _quant_nodes(model)
    if left:
        raise ValueError(f"{len(left)} Quant node(s) not convertible to QCDQ (e.g. {left[0].name or left[0].output[0]})")
    return model.model


def _float_subgraph(path, batch):
    model = cleanup_model(ModelWrapper(str(path)), preserve_qnt_ops=False, override_inpsize=batch)
    graph = model.graph
    new_nodes = []
    for node in graph.node:
        if node.op_type == "BipolarQuant":
            raise ValueError("BipolarQuant on activations has no float-subgraph recipe here")
        if node.op_type != "Quant":
            new_nodes.append(node)
            continue
        new_nodes.extend(_quant_as_standard_ops(model, node))
    del graph.node[:]
    graph.node.extend(new_nodes)
    # the standard ops need a recent default opset (Clip with tensor bounds: 11, Round: 11)
    for opset in model.model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < 13:
            opset.version = 13
    return model.model


def _quant_as_standard_ops(model, node):
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    mode = attrs.get("rounding_mode", b"ROUND")
    mode = (mode.decode() if isinstance(mode, bytes) else mode).upper()
    if mode not in _ROUNDING_OPS:
        raise ValueError(f"rounding mode {mode} has no single standard ONNX op")
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    scale, zero_point, bits = (model.get_initializer(name) for name in node.input[1:4])
    if scale is None or zero_point is None or bits is None:
        raise ValueError(f"Quant {node.name or node.output[0]} has non-constant parameters")
    bits = int(np.asarray(bits).item())
    if bits == 1 and signed:
        raise ValueError("1-bit signed Quant (bipolar) has no float-subgraph recipe here")
    lo = -(2 ** (bits - 1)) + (1 if narrow else 0) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1 - (1 if narrow else 0)
    base = (node.name or node.output[0]).replace("/", "_")

    def const(suffix, value):
        name = f"{base}__{suffix}"
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    s, z = const("scale", scale), const("zero_point", zero_point)
    lo_name, hi_name = const("min", lo), const("max", hi)
    t = [f"{base}__t{i}" for i in range(5)]
    return [
        helper.make_node("Div", [node.input[0], s], [t[0]]),
        helper.make_node("Add", [t[0], z], [t[1]]),
        helper.make_node("Clip", [t[1], lo_name, hi_name], [t[2]]),
        helper.make_node(_ROUNDING_OPS[mode], [t[2]], [t[3]]),
        helper.make_node("Sub", [t[3], z], [t[4]]),
        helper.make_node("Mul", [t[4], s], [node.output[0]]),
    ]


RECIPES = {
    "qcdq": ("QCDQ", "qonnx QuantToQCDQ: Quant -> QuantizeLinear/Clip/DequantizeLinear", _qcdq),
    "float": ("float subgraph", "weights folded to float; activation Quant -> Div/Add/Clip/Round/Sub/Mul", _float_subgraph),
}


def to_onnxruntime_model(path, batch, recipes=("qcdq", "float")):
    """Returns (serialized ONNX bytes, recipe key, notes on recipes that failed before it)."""
    notes = []
    for key in recipes:
        short, _, build = RECIPES[key]
        try:
            proto = build(path, batch)
            onnx.checker.check_model(proto)
            return proto.SerializeToString(), key, notes
        except Exception as exc:  # try the next recipe, and say why this one failed
            first_line = (str(exc).splitlines() or [""])[0][:160]
            notes.append(f"{short} not usable: {type(exc).__name__}: {first_line}")
    raise RuntimeError("; ".join(notes))
