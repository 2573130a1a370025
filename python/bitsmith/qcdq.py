"""QCDQ export: ``export_qcdq(model, example_input, path)`` writes standard ONNX (docs/export.md, "QCDQ export").

Every bitsmith fake-quant becomes ``QuantizeLinear -> [Clip] -> DequantizeLinear`` with int8 or
uint8 integers (opset 13, per-tensor or per-axis scales): the form onnxruntime, TensorRT and
Brevitas' QCDQ exporter use. Bit widths under 8 and narrow ranges are a ``Clip`` on the integer
between the two nodes. An ``int32`` bias is stored as its int32 levels and a
``DequantizeLinear``. Anything whose meaning QuantizeLinear cannot reproduce is refused with
ExportError naming the module (docs/export.md lists what and why).

Why the meanings agree: QuantizeLinear computes ``saturate(round_half_even(x / s) + z)`` with
a float32 division (onnxruntime divides; it does not multiply by 1/s), bitsmith's Quant
``round_half_even(clamp(x / s + z))``; DequantizeLinear ``(q - z) * s`` is bitsmith's last
step. With z = 0 the two are the same float32 operations. With z != 0 bitsmith rounds the
float32 sum ``x/s + z``, which can land on (or cross) a .5 tie that ``x/s`` alone does not
reach: such elements differ by one step; the tests count them and prove each is that case.

The route is export_qonnx's (export._prepare, export._trace): only the symbolic functions
differ, plus the int32-bias rewrite below. torch is imported lazily.
"""

import os
import types

from . import export as _export
from .export import ExportError

__all__ = ["export_qcdq", "ExportError"]

_HALF_EVEN = ("ROUND", "HALF_EVEN")
_INT8, _UINT8 = 3, 2  # onnx.TensorProto element types


def _spec_problem(spec):
    """Why a spec has no QCDQ form (None when it has one)."""
    from .quant import BipolarQuant, IntQuant, MiniFloatQuant, TernaryQuant

    if isinstance(spec, MiniFloatQuant):
        return ("MiniFloatQuant (minifloat) is not written as QCDQ: QuantizeLinear's float8 types are not "
                "verified to round and saturate like FloatQuant; use export_qonnx, or an IntQuant with bits <= 8")
    if isinstance(spec, BipolarQuant):
        return ("BipolarQuant has no QuantizeLinear form (levels -1/+1 with no zero, 0 maps to +1); "
                "use export_qonnx, or IntQuant(bits=2, narrow=True)")
    if isinstance(spec, TernaryQuant):
        return "TernaryQuant is not written as QCDQ; use export_qonnx, or IntQuant(bits=2, narrow=True)"
    if not isinstance(spec, IntQuant):
        return f"{type(spec).__name__} is not a bitsmith.quant spec"
    if spec.granularity == "per_group":
        return ("per_group scales need blocked QuantizeLinear (opset 21), which export_qcdq does not write; "
                "use per_tensor or per_channel (or export_qonnx)")
    return _int_problem(spec.bits, spec.signed, spec.rounding)


def _int_problem(bits: int, signed: bool, rounding: str):
    if bits > 8:
        return f"IntQuant(bits={bits}) does not fit QuantizeLinear's int8/uint8; use bits <= 8 (or export_qonnx)"
    if bits == 1 and signed:
        return "signed 1-bit IntQuant is bipolar (no zero level): use export_qonnx, or bits=2 with narrow=True"
    if rounding.upper() not in _HALF_EVEN:
        return (f"rounding={rounding!r}: QuantizeLinear rounds half to even only; use rounding='ROUND' "
                "(or export_qonnx)")
    return None


def _check_quantizers(m) -> None:
    """Refusals, by module path, for everything the QCDQ symbolics cannot write faithfully."""
    import torch

    from .fake_quant import _int_range
    from .nn import QuantAvgPool2d, Quantizer

    for where, mod in m.named_modules():
        if isinstance(mod, Quantizer):
            why = _spec_problem(mod.spec)
            if why:
                raise ExportError(f"{where}: {why}")
            zp = mod.zero_point
            if zp is not None:
                lo, hi = _int_range(mod.spec.bits, mod.spec.signed, mod.spec.narrow)
                ok = torch.isfinite(zp) & (zp == torch.round(zp)) & (zp >= lo) & (zp <= hi)
                if not bool(ok.all()):
                    raise ExportError(f"{where}: zero point {zp.flatten()[:4].tolist()} is not an integer in "
                                      f"[{lo}, {hi}], which QuantizeLinear's integer zero point needs")
        if isinstance(mod, QuantAvgPool2d) and mod.rounding not in _HALF_EVEN:
            raise ExportError(f"{where}: QuantAvgPool2d(rounding={mod.rounding!r}) drops bits with a rounding "
                              "QuantizeLinear cannot do (half to even only); use rounding='ROUND' (or export_qonnx)")


# ---------------------------------------------------------------------------
# int32 bias: the levels are known at export, so they are stored as int32 and dequantized.

_bias_op = None


def _dequantize_int32_op():
    """``bitsmith_qcdq::dequantize_int32(q, s) = float(q) * s``: bitsmith's ``(q - 0) * s`` for
    levels q that are float32 integers, traced as one node (DequantizeLinear)."""
    global _bias_op
    if _bias_op is None:
        import torch

        @torch.library.custom_op("bitsmith_qcdq::dequantize_int32", mutates_args=())
        def dequantize_int32(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            return q.float() * scale

        @dequantize_int32.register_fake
        def _(q, scale):
            return q.new_empty(q.shape, dtype=torch.float32)

        _bias_op = dequantize_int32
    return _bias_op


def _rewrite_int32_biases(m) -> None:
    """Each bias_quant='int32' layer of the (frozen) copy keeps its quantized bias as int32
    levels and a scale; its forward dequantizes them with the op above (same value)."""
    import torch

    from . import fake_quant as FQ
    from .nn import QuantConv1d, QuantConv2d, QuantConvTranspose2d, QuantLinear

    op = _dequantize_int32_op()
    for where, mod in m.named_modules():
        if not isinstance(mod, (QuantLinear, QuantConv1d, QuantConv2d, QuantConvTranspose2d)):
            continue
        if not mod.bias_quant or mod.bias is None:
            continue
        ws = mod.weight_quant.scale
        xs = mod.input_quant.scale
        with torch.no_grad():
            bs = (ws.reshape(-1) * xs.reshape(())).detach()
            zero = torch.zeros((), dtype=torch.float32)
            with FQ.backend("torch"):  # the levels, by the float32 steps the core takes (tested equal)
                q, _ = FQ._int_levels(mod.bias.detach(), bs, zero, 32, True, False, "ROUND")
        if not bool(torch.isfinite(q).all()) or bool((q.abs() >= 2.0**31).any()):
            raise ExportError(f"{where}: the int32 bias levels overflow int32 (bias / (s_w * s_x) >= 2^31)")
        mod.register_buffer("qcdq_bias_levels", q.to(torch.int32))
        mod.register_buffer("qcdq_bias_scale", bs.reshape(()) if bs.numel() == 1 else bs)

        def quant_params(self, x_scale):
            ws_, wz = self.weight_quant.current_scale(self.weight)
            w = FQ.fake_quant(self.weight, self.weight_quant.spec, ws_, wz)
            return w, op(self.qcdq_bias_levels, self.qcdq_bias_scale)

        mod.quant_params = types.MethodType(quant_params, mod)


# ---------------------------------------------------------------------------
# Symbolics.


def _register_symbolics() -> None:
    if _export._active_symbolics == "qcdq":
        return
    import torch
    from torch.onnx import symbolic_helper as sh

    from .fake_quant import MAX_LEARNED_BITS, MIN_LEARNED_BITS, _int_range

    def typed(y, x):
        y.setType(x.type())
        return y

    def ints(g, values, dtype):
        return g.op("Constant", value_t=torch.tensor(values, dtype=dtype))

    def qparams(g, x, scale, zp, where):
        """(scale, float zero point, axis): 1-D and an axis per channel, scalars and None per tensor."""
        shape = sh._get_tensor_sizes(scale)
        rank = sh._get_tensor_rank(x)
        zshape = sh._get_tensor_sizes(zp)
        if shape is None or rank is None or zshape is None or None in shape or None in zshape:
            raise ExportError(f"{where}: the scale's shape is unknown at export")
        big = [d for d, n in enumerate(shape) if n != 1]
        zbig = [d for d, n in enumerate(zshape) if n != 1]
        if len(big) > 1 or len(shape) > rank or (zbig and (len(zshape) != len(shape) or zbig != big)):
            raise ExportError(f"{where}: scale shape {tuple(shape)} (zero point {tuple(zshape)}) is neither "
                              "per-tensor nor per-channel")
        if not big:
            return (g.op("Reshape", scale, ints(g, [], torch.int64)), g.op("Reshape", zp, ints(g, [], torch.int64)),
                    None)
        n = shape[big[0]]
        s1 = g.op("Reshape", scale, ints(g, [-1], torch.int64))
        z1 = g.op("Expand", g.op("Reshape", zp, ints(g, [-1], torch.int64)), ints(g, [n], torch.int64))
        return s1, z1, rank - len(shape) + big[0]

    def qcdq(g, x, q_scale, dq_scale, zp, axis, bits, signed, narrow):
        """QuantizeLinear -> [Clip to the bit width's range] -> DequantizeLinear."""
        to = _INT8 if signed else _UINT8
        z = g.op("Cast", zp, to_i=to)
        kw = {} if axis is None else {"axis_i": axis}
        q = g.op("QuantizeLinear", x, q_scale, z, **kw)
        lo, hi = _int_range(bits, signed, narrow)
        if (lo, hi) != ((-128, 127) if signed else (0, 255)):
            dt = torch.int8 if signed else torch.uint8
            q = g.op("Clip", q, ints(g, lo, dt), ints(g, hi, dt))
        return typed(g.op("DequantizeLinear", q, dq_scale, z, **kw), x)

    def checked(bits, signed, rounding, what):
        why = _int_problem(bits, signed, rounding)
        if why:
            raise ExportError(f"{what}: {why}")

    @sh.parse_args("v", "v", "v", "i", "b", "b", "s")
    def int_quant(g, x, scale, zp, bits, signed, narrow, rounding):
        checked(bits, signed, rounding, "bitsmith::int_quant")
        s, z, axis = qparams(g, x, scale, zp, "bitsmith::int_quant")
        return qcdq(g, x, s, s, z, axis, bits, signed, narrow)

    @sh.parse_args("v", "v", "v", "v", "b", "b", "s")
    def learned_bits(g, x, scale, zp, bits, signed, narrow, rounding):
        b = sh._maybe_get_const(bits, "f")
        if sh._is_value(b):
            raise ExportError("bitsmith::int_quant_learned_bits: freeze the learned bit width before export_qcdq")
        v = int(min(max(round(float(torch.as_tensor(b).reshape(()))), MIN_LEARNED_BITS), MAX_LEARNED_BITS))
        return int_quant(g, x, scale, zp, v, signed, narrow, rounding)

    def refused(what):
        def fn(g, *args):
            raise ExportError(f"{what}: {_spec_problem_for(what)}")

        return fn

    @sh.parse_args("v", "v", "i", "i", "b", "s")
    def trunc(g, x, scale, in_bits, out_bits, signed, rounding):
        # QuantAvgPool2d: x is the exact window sum on the grid of s, so Trunc is
        # R(x / (s * 2^t)) clamped to out_bits, times s; with R half to even that is
        # QuantizeLinear at scale s * 2^t (a power-of-two product: exact) and
        # DequantizeLinear at s.
        checked(out_bits, signed, rounding, "bitsmith_nn::trunc")
        sizes = sh._get_tensor_sizes(scale)
        if sizes is None or any(n != 1 for n in sizes):
            raise ExportError("bitsmith_nn::trunc: QCDQ is written for a per-tensor scale only")
        s = g.op("Reshape", scale, ints(g, [], torch.int64))
        s_in = g.op("Mul", s, g.op("Constant", value_t=torch.tensor(2.0 ** (in_bits - out_bits))))
        z = g.op("Constant", value_t=torch.tensor(0.0))
        return qcdq(g, x, s_in, s, z, None, out_bits, signed, False)

    @sh.parse_args("v", "v")
    def dequantize_int32(g, q, scale):
        shape = sh._get_tensor_sizes(scale)
        kw = {"axis_i": 0} if shape else {}
        return g.op("DequantizeLinear", q, scale, g.op("Constant", value_t=torch.zeros(shape or [], dtype=torch.int32)),
                    **kw)

    for name, fn in [("int_quant", int_quant), ("bipolar_quant", refused("bitsmith::bipolar_quant")),
                     ("ternary_quant", refused("bitsmith::ternary_quant")),
                     ("float_quant", refused("bitsmith::float_quant")), ("int_quant_learned_bits", learned_bits)]:
        torch.onnx.register_custom_op_symbolic(f"bitsmith::{name}", fn, 9)
    torch.onnx.register_custom_op_symbolic("bitsmith_nn::trunc", trunc, 9)
    _dequantize_int32_op()
    torch.onnx.register_custom_op_symbolic("bitsmith_qcdq::dequantize_int32", dequantize_int32, 9)
    _export._active_symbolics = "qcdq"


def _spec_problem_for(op: str) -> str:
    from .quant import FP8_E4M3, BipolarQuant, TernaryQuant

    spec = {"bitsmith::bipolar_quant": BipolarQuant(), "bitsmith::ternary_quant": TernaryQuant(),
            "bitsmith::float_quant": FP8_E4M3}[op]
    return _spec_problem(spec)


def _fold_parameter_nodes(proto) -> None:
    """The Expand/Cast/Reshape/Mul the symbolics put on scales and zero points, when all their
    inputs are initializers, become initializers (torch's constant folding leaves Expand and the
    Cast after it), so every QuantizeLinear/DequantizeLinear parameter is an initializer."""
    import numpy as np
    from onnx import helper, numpy_helper

    g = proto.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    keep = []
    for node in g.node:
        ins = list(node.input)
        if node.op_type not in ("Expand", "Cast", "Reshape", "Mul") or not all(i in inits for i in ins):
            keep.append(node)
            continue
        a = [inits[i] for i in ins]
        if node.op_type == "Expand":
            v = a[0] * np.ones(tuple(int(n) for n in a[1]), dtype=a[0].dtype)
        elif node.op_type == "Cast":
            to = helper.get_attribute_value(node.attribute[0])
            v = a[0].astype(helper.tensor_dtype_to_np_dtype(to))
        elif node.op_type == "Reshape":
            v = a[0].reshape(tuple(int(n) for n in a[1]))
        else:
            v = np.multiply(a[0], a[1])  # float32 * float32: the one rounding the exporter's Mul makes
        inits[node.output[0]] = np.asarray(v)
        g.initializer.append(numpy_helper.from_array(inits[node.output[0]], node.output[0]))
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    live = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(live)


def export_qcdq(model, example_input, path, input_names=("input",), output_names=("output",),
                opset: int = 13) -> None:
    """Writes ``model`` (eval meaning) as standard ONNX with QuantizeLinear/DequantizeLinear pairs.

    ``opset`` is the ONNX opset (13 to 20: per-axis QuantizeLinear needs 13, the TorchScript
    exporter stops at 20). The batch dimension is dynamic. Raises ExportError, naming the module,
    for anything without a faithful QCDQ form (docs/export.md, "QCDQ export").
    """
    import onnx

    if not 13 <= int(opset) <= 20:
        raise ExportError(f"opset={opset}: export_qcdq writes opset 13 to 20 (per-axis QuantizeLinear "
                          "needs 13; torch's TorchScript exporter stops at 20)")
    m = _export._prepare(model, "export_qcdq")
    _check_quantizers(m)
    _rewrite_int32_biases(m)
    _register_symbolics()
    proto = _export._trace(m, example_input, input_names, output_names, int(opset), None)
    _export._constants_to_initializers(proto)
    _fold_parameter_nodes(proto)
    onnx.save(proto, os.fspath(path))

