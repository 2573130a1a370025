"""QONNX export: ``export_qonnx(model, example_input, path)`` (docs/export.md).

Route: the model is copied, BatchNorm folded (bitsmith.nn.fold_batchnorm), every
quantizer frozen (scales become buffers), modules checked against an allow list, and
then traced by torch.onnx.export (the TorchScript exporter, dynamo=False). Each
bitsmith::* fake-quant op is mapped by a symbolic function onto its QONNX node
(Quant, BipolarQuant, FloatQuant) in domain qonnx.custom_op.general; the Constant
nodes the tracer leaves are then moved into initializers. torch is imported lazily.
"""

from __future__ import annotations

import copy
import io
import os
import warnings

__all__ = ["export_qonnx", "ExportError"]

QONNX_DOMAIN = "qonnx.custom_op.general"


class ExportError(ValueError):
    """A model that cannot be exported faithfully (the message names the module and why)."""


# export_qonnx and export_qcdq register different symbolics for the same bitsmith ops
# (torch keeps one per op name), so each installs its own set when it is not the active one.
_active_symbolics = None


def _register_symbolics() -> None:
    global _active_symbolics
    if _active_symbolics == "qonnx":
        return
    import torch
    from torch.onnx import symbolic_helper as sh

    def typed(y, x):
        # The conv symbolics need the weight's shape: a quantizer keeps its input's type.
        y.setType(x.type())
        return y

    def const(g, v):
        return g.op("Constant", value_t=torch.tensor(float(v), dtype=torch.float32))

    @sh.parse_args("v", "v", "v", "i", "b", "b", "s")
    def int_quant(g, x, scale, zp, bits, signed, narrow, rounding):
        if bits == 1 and signed:
            return typed(g.op(f"{QONNX_DOMAIN}::BipolarQuant", x, scale), x)
        return typed(g.op(f"{QONNX_DOMAIN}::Quant", x, scale, zp, const(g, bits), signed_i=int(signed),
                          narrow_i=int(narrow), rounding_mode_s=rounding), x)

    @sh.parse_args("v", "v")
    def bipolar_quant(g, x, scale):
        return typed(g.op(f"{QONNX_DOMAIN}::BipolarQuant", x, scale), x)

    @sh.parse_args("v", "v", "f")
    def ternary_quant(g, x, scale, threshold):
        if threshold != 0.5:
            raise ExportError(f"TernaryQuant(threshold={threshold}) has no single QONNX node; use threshold=0.5")
        zero = const(g, 0.0)
        return typed(g.op(f"{QONNX_DOMAIN}::Quant", x, scale, zero, const(g, 2), signed_i=1, narrow_i=1,
                          rounding_mode_s="ROUND"), x)

    @sh.parse_args("v", "v", "i", "i", "i", "f", "b", "b", "b", "s")
    def float_quant(g, x, scale, e, m, bias, max_val, saturating, has_inf, has_nan, rounding):
        if max_val == float("inf"):
            max_val = (2.0 - 2.0 ** -m) * 2.0 ** ((1 << e) - 1 - bias)
        return typed(g.op(f"{QONNX_DOMAIN}::FloatQuant", x, scale, const(g, e), const(g, m), const(g, bias),
                          const(g, max_val), has_inf_i=int(has_inf), has_nan_i=int(has_nan), has_subnormal_i=1,
                          rounding_mode_s=rounding, saturation_i=int(saturating)), x)

    @sh.parse_args("v", "v", "i", "i", "b", "s")
    def trunc(g, x, scale, in_bits, out_bits, signed, rounding):
        # Trunc v1 (the domain is imported at version 1): no signed attribute, zero point 0.
        return typed(g.op(f"{QONNX_DOMAIN}::Trunc", x, scale, const(g, 0.0), const(g, in_bits), const(g, out_bits),
                          rounding_mode_s=rounding), x)

    @sh.parse_args("v", "v", "v", "v", "b", "b", "s")
    def learned_bits(g, x, scale, zp, bits, signed, narrow, rounding):
        # The bit width the forward uses: round half to even, clamped to 2..16 (fake_quant's
        # int_quant_learned_bits). export_qonnx freezes quantizers first, and a traced Quantizer
        # passes its current bit width as a constant, so this sees the op called directly: a
        # constant gives its number, a tensor (a parameter) Round and Clip nodes in front of the
        # Quant (ONNX Round is half to even; clamping and rounding commute for integer bounds).
        from .fake_quant import MAX_LEARNED_BITS, MIN_LEARNED_BITS
        b = sh._maybe_get_const(bits, "f")
        if not sh._is_value(b):
            v = int(min(max(round(float(torch.as_tensor(b).reshape(()))), MIN_LEARNED_BITS), MAX_LEARNED_BITS))
            return int_quant(g, x, scale, zp, v, signed, narrow, rounding)
        b = g.op("Clip", g.op("Round", bits), const(g, MIN_LEARNED_BITS), const(g, MAX_LEARNED_BITS))
        return typed(g.op(f"{QONNX_DOMAIN}::Quant", x, scale, zp, b, signed_i=int(signed), narrow_i=int(narrow),
                          rounding_mode_s=rounding), x)

    for name, fn in [("int_quant", int_quant), ("bipolar_quant", bipolar_quant), ("ternary_quant", ternary_quant),
                     ("float_quant", float_quant), ("int_quant_learned_bits", learned_bits)]:
        torch.onnx.register_custom_op_symbolic(f"bitsmith::{name}", fn, 9)
    torch.onnx.register_custom_op_symbolic("bitsmith_nn::trunc", trunc, 9)
    _active_symbolics = "qonnx"


def _allowed():
    from torch import nn
    from . import nn as qnn

    leaves = (qnn.Quantizer, qnn.QuantLinear, qnn.QuantConv1d, qnn.QuantConv2d, qnn.QuantConvTranspose2d,
              qnn.QuantReLU, qnn.QuantIdentity, qnn.QuantHardTanh, qnn.QuantSigmoid, qnn.QuantTanh,
              qnn.QuantMaxPool2d, qnn.QuantAvgPool2d, qnn.QuantAdd, qnn.QuantCat,
              nn.Identity, nn.Flatten, nn.ReLU, nn.MaxPool1d, nn.MaxPool2d, nn.Dropout)
    return leaves


def _check_modules(model, who: str = "export_qonnx") -> None:
    from torch import nn
    leaves = _allowed()
    for path, mod in model.named_modules():
        where = path or "<model>"
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            raise ExportError(f"{where}: {type(mod).__name__} does not directly follow a quantized Conv/Linear "
                              "inside an nn.Sequential, so it cannot be folded")
        if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)) and not isinstance(mod, leaves):
            raise ExportError(f"{where}: float {type(mod).__name__} would export unquantized; "
                              f"use bitsmith.nn.Quant{type(mod).__name__}.from_float")
        if isinstance(mod, leaves) or isinstance(mod, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            continue
        if len(mod._modules) == 0:
            raise ExportError(f"{where}: {type(mod).__name__} is not supported by {who}")


def _constants_to_initializers(model) -> None:
    """Constant nodes, and Identity nodes of an initializer (torch's deduplication of equal
    buffers), become initializers, so every Quant parameter is an initializer."""
    from onnx import numpy_helper
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.attribute) == 1 \
                and node.attribute[0].name == "value":
            t = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in inits:
            t = numpy_helper.to_array(inits[node.input[0]])
        else:
            keep.append(node)
            continue
        inits[node.output[0]] = numpy_helper.from_array(t, node.output[0])
        g.initializer.append(inits[node.output[0]])
    del g.node[:]
    g.node.extend(keep)
    # Names like "qonnx.custom_op.general::Quant_15" (the tracer's) read badly in tools.
    rename = {i.name: i.name.replace("::", "_") for i in g.initializer if "::" in i.name}
    for i in g.initializer:
        i.name = rename.get(i.name, i.name)
    for node in g.node:
        for k, v in enumerate(node.input):
            node.input[k] = rename.get(v, v)


def export_qonnx(model, example_input, path, input_names=("input",), output_names=("output",),
                 opset_version: int = 13) -> None:
    """Writes ``model`` (eval meaning) as QONNX to ``path``; the batch dimension is dynamic.

    A model built from Brevitas layers (ModelQuantizer's backend='brevitas') is written by
    brevitas.export.export_qonnx with the same names and dynamic batch (docs/model_quantizer.md)."""
    from .brevitas_backend import export_brevitas_qonnx, is_brevitas_model

    if is_brevitas_model(model):
        from .nn import Quantizer

        if any(isinstance(m, Quantizer) for m in model.modules()):
            raise ExportError("<model>: mixes bitsmith.nn and Brevitas quantizers; quantize it with one backend")
        export_brevitas_qonnx(model, example_input, path, input_names, output_names, opset_version)
        return
    import onnx

    _register_symbolics()
    m = _prepare(model)
    proto = _trace(m, example_input, input_names, output_names, opset_version, {QONNX_DOMAIN: 1})
    _constants_to_initializers(proto)
    onnx.save(proto, os.fspath(path))


def _prepare(model, who: str = "export_qonnx"):
    """An eval copy of ``model`` with BatchNorm folded, modules checked and every quantizer frozen."""
    from .nn import Quantizer, fold_batchnorm, freeze

    m = fold_batchnorm(copy.deepcopy(model), inplace=True).eval()
    _check_modules(m, who)
    for where, mod in m.named_modules():
        if isinstance(mod, Quantizer) and mod.needs_stats:
            raise ExportError(f"{where}: activation quantizer has no statistics; calibrate the model "
                              "(or train it) before export")
    freeze(m)
    return m


def _trace(m, example_input, input_names, output_names, opset_version, custom_opsets):
    """torch.onnx.export (TorchScript, dynamo=False) of ``m`` with a dynamic batch, as an onnx.ModelProto;
    the symbolics must be registered already."""
    import onnx
    import torch

    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    names_in = [f"{input_names[0]}{i}" if len(inputs) > 1 and len(input_names) == 1 else input_names[i]
                for i in range(len(inputs))]
    with torch.no_grad():
        out = m(*inputs)
    n_out = len(out) if isinstance(out, (tuple, list)) else 1
    names_out = list(output_names)[:n_out] if len(output_names) >= n_out else [f"output{i}" for i in range(n_out)]
    dyn = {n: {0: "batch"} for n in names_in + names_out}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated but still the one with custom-op symbolics;
        # the tracer warns about shape checks that are constant for a given model.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(m, inputs, buf, dynamo=False, opset_version=opset_version, input_names=names_in,
                          output_names=names_out, dynamic_axes=dyn, do_constant_folding=True,
                          custom_opsets=custom_opsets)
    return onnx.load_from_string(buf.getvalue())
