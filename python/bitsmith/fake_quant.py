"""Fake-quant ops for PyTorch: quantize and dequantize in one step, float32 in and out.

Five ops are registered with ``torch.library.custom_op`` in the ``bitsmith``
namespace, so ``torch.compile`` and ``torch.export`` see them as single nodes:

- ``bitsmith::int_quant(x, scale, zero_point, bits, signed, narrow, rounding)``
  QONNX Quant: ``y = (R(clamp(x/s + z)) - z) * s``;
- ``bitsmith::int_quant_learned_bits(x, scale, zero_point, bits, signed, narrow, rounding)``
  the same with the bit width a trained one-element tensor;
- ``bitsmith::float_quant(x, scale, exp_bits, mant_bits, bias, max_val, saturating,
  has_inf, has_nan, rounding)`` QONNX FloatQuant (minifloat);
- ``bitsmith::bipolar_quant(x, scale)``: ``+s`` where ``x/s >= 0``, ``-s`` elsewhere;
- ``bitsmith::ternary_quant(x, scale, threshold)``: ``+-s`` where ``|x/s| > threshold``.

Forward. Two implementations of the same float32 operations in the same order, proven
bit-identical by the tests: the C++ quantize core (``bitsmith._core``, the engine's
``mode="float"`` and qonnx's float32 arithmetic) and a pure-PyTorch one. The default
backend ``"core"`` calls the C++ core for every op on CPU, so training sees the engine's
own rounding code. ``backend("auto")`` runs ``int_quant`` (the QAT hot path) in PyTorch
instead — its chain of in-place vectorized ops is several times faster than the core's
element loop on big activations (bench/bench_qat.py measures both) — and the other ops
in the core; ``backend("torch")`` runs PyTorch everywhere. Tensors off the CPU (a GPU)
always take PyTorch.

Backward (docs/quantizers.md, "Gradients"): a straight-through estimator clipped
where the value was clamped, and the LSQ gradient for the scale (and the zero point):
with ``u = x/s`` and the dequantized level ``q`` (in units of s, ``y = q*s``),
``dy/dx = 1`` and ``dy/ds = q - u`` where ``u`` lies inside the range,
``dy/dx = 0`` and ``dy/ds = q`` where it was clamped. LSQ's gradient scale
``1/sqrt(N*Qmax)`` belongs to the layer that owns the scale, not to the op.

Inputs must be float32; scale and zero point broadcast against x numpy-style.
``fake_quant(x, spec, scale, ...)`` maps a bitsmith.quant spec onto the ops and
``compute_scale(x, spec)`` finds a scale from the spec's statistics.
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from . import _core
from .quant import BipolarQuant, IntQuant, MiniFloatQuant, TernaryQuant

__all__ = [
    "int_quant",
    "int_quant_learned_bits",
    "float_quant",
    "bipolar_quant",
    "ternary_quant",
    "fake_quant",
    "compute_scale",
    "backend",
    "current_backend",
]

_FLT_MIN = float(np.finfo(np.float32).tiny)
_state = threading.local()


def current_backend() -> str:
    """'core' (default: C++ on CPU), 'auto' (int_quant in PyTorch, the other ops in C++ on CPU) or
    'torch' (PyTorch everywhere); tensors off the CPU always take PyTorch."""
    return getattr(_state, "backend", "core")


@contextlib.contextmanager
def backend(name: str) -> Iterator[None]:
    """Select the forward implementation for CPU tensors inside a ``with`` block."""
    if name not in ("auto", "core", "torch"):
        raise ValueError(f"backend must be 'auto', 'core' or 'torch', got {name!r}")
    old = current_backend()
    _state.backend = name
    try:
        yield
    finally:
        _state.backend = old


def _use_core(*tensors: torch.Tensor, auto: bool = True) -> bool:
    """Whether to call the C++ core: on CPU, under 'core', and under 'auto' for the ops whose
    `auto` choice is the core."""
    b = current_backend()
    return (b == "core" or (b == "auto" and auto)) and all(t.device.type == "cpu" for t in tensors)


def _check_f32(op: str, **tensors: torch.Tensor) -> None:
    for name, t in tensors.items():
        if t.dtype != torch.float32:
            raise TypeError(f"bitsmith::{op}: {name} must be float32, got {t.dtype}")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _out_shape(*tensors: torch.Tensor) -> torch.Size:
    return torch.broadcast_shapes(*(t.shape for t in tensors))


def _sum_to(g: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Reduces a broadcast gradient back to an input's shape."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.dim() - len(shape)
    if lead > 0:
        g = g.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(shape)


# ---------------------------------------------------------------------------
# Rounding, as numpy computes it in float32 (SEMANTICS.md "Rounding modes"; the
# C++ round_float<float> is the same list of operations).


def _np_sign(t: torch.Tensor) -> torch.Tensor:
    # numpy.sign: +0 for both zeros (torch.sign keeps -0), NaN for NaN.
    one = torch.ones_like(t)
    return torch.where(t > 0, one, torch.where(t < 0, -one, torch.where(t == 0, torch.zeros_like(t), t)))


def _round(t: torch.Tensor, mode: str) -> torch.Tensor:
    mode = mode.upper()
    if mode in ("ROUND", "HALF_EVEN"):
        return torch.round(t)
    if mode == "CEIL":
        return torch.ceil(t)
    if mode == "FLOOR":
        return torch.floor(t)
    if mode == "DOWN":
        return torch.trunc(t)
    if mode == "UP":
        return _np_sign(t) * torch.ceil(t.abs())
    if mode == "HALF_UP":
        return _np_sign(t) * torch.floor(t.abs() + 0.5)
    if mode == "HALF_DOWN":
        return _np_sign(t) * torch.ceil(t.abs() - 0.5)
    raise ValueError(f"unknown rounding mode {mode!r}")


def _int_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    lo, hi = _core.int_range(bits, signed, narrow)
    return int(lo), int(hi)


# ---------------------------------------------------------------------------
# Pure-PyTorch forwards. Each returns the output and the level q with y = q * s
# (before any final rounding), and the mask of elements that were not clamped.


def _int_inside(t, bits, signed, narrow):
    """Where the straight-through gradient passes: t = x/s + z inside the clamp range."""
    if bits == 1 and signed:
        return t.abs() <= 1
    lo, hi = _int_range(bits, signed, narrow)
    return (t >= lo) & (t <= hi)


def _int_levels(x, scale, zero_point, bits, signed, narrow, rounding):
    t = x / scale
    t = t + zero_point
    inside = _int_inside(t, bits, signed, narrow)
    if bits == 1 and signed:
        # QONNX keeps signed 1-bit as bipolar: no clamp and no rounding.
        one = torch.ones_like(t)
        q = torch.where(t >= 0, one, -one)
    else:
        lo, hi = _int_range(bits, signed, narrow)
        q = _round(torch.clamp(t, lo, hi), rounding)
    return q, inside


_ROUND_INPLACE = {"ROUND": torch.Tensor.round_, "HALF_EVEN": torch.Tensor.round_, "CEIL": torch.Tensor.ceil_,
                  "FLOOR": torch.Tensor.floor_, "DOWN": torch.Tensor.trunc_}


def _int_quant_torch(x, scale, zero_point, bits, signed, narrow, rounding):
    """_int_levels' float32 steps, in place in one fresh buffer: on CPU each new big tensor
    costs more (page faults) than the arithmetic, so this is the fast path."""
    if bits == 1 and signed:
        q, _ = _int_levels(x, scale, zero_point, bits, signed, narrow, rounding)
        return (q - zero_point) * scale
    lo, hi = _int_range(bits, signed, narrow)
    t = torch.div(x, scale)  # the broadcast shape, float32: the only allocation on the usual path
    t.add_(zero_point)
    t.clamp_(lo, hi)
    rnd = _ROUND_INPLACE.get(rounding.upper())
    if rnd is None:  # the sign-based modes: numpy's sign needs temporaries anyway
        t = _round(t, rounding)
    else:
        rnd(t)
    t.sub_(zero_point)
    return t.mul_(scale)


def _minifloat_max(exp_bits: int, mant_bits: int, bias: int, max_val: float) -> float:
    # qonnx's compute_max_val with float32 E and bias: 2**max_exp in float32 (may be
    # +inf), times the float64 mantissa sum; then numpy.minimum with max_val.
    p = float(np.float32(2.0) ** np.float32((1 << exp_bits) - 1 - bias))
    return min((2.0 - 2.0**-mant_bits) * p, max_val)


def _float_levels(x, scale, exp_bits, mant_bits, bias, max_val, saturating, has_inf, has_nan, rounding):
    """q (float64, before the final cast) and the unclamped mask, as float_quant_float."""
    u = x / scale
    w = u.abs() + _FLT_MIN
    # numpy's float32 log2, correctly rounded: log2 in float64, rounded once.
    lg = torch.log2(w.double()).float().double()
    e = torch.maximum(torch.floor(lg) - mant_bits, torch.full_like(lg, 1.0 - bias - mant_bits))
    sc = torch.exp2(e).float()
    q = sc * _round(u / sc, rounding)
    maxv = _minifloat_max(exp_bits, mant_bits, bias, max_val)
    q64 = q.double()
    was_inf = torch.isinf(q64)
    over = q64 > maxv
    under = q64 < -maxv
    c = torch.clamp(q64, -maxv, maxv)
    if not saturating:
        if has_inf:
            c = torch.where(over, math.inf, torch.where(under, -math.inf, c))
        else:
            c = torch.where(over | under | was_inf, math.nan, c)
    inside = u.double().abs() <= maxv
    return c, inside


def _float_quant_torch(x, scale, exp_bits, mant_bits, bias, max_val, saturating, has_inf, has_nan, rounding):
    c, _ = _float_levels(x, scale, exp_bits, mant_bits, bias, max_val, saturating, has_inf, has_nan, rounding)
    return (c * scale.double()).float()


def _ternary_inner_scale(scale: torch.Tensor, threshold: float) -> torch.Tensor:
    # The narrow signed 2-bit Quant rounds x / (2*threshold*s) to {-1, 0, 1}; the
    # product is one float32 rounding (exact for threshold 0.5).
    return scale * (2.0 * threshold)


def _ternary_quant_torch(x, scale, threshold):
    s2 = _ternary_inner_scale(scale, threshold)
    level = _int_quant_torch(x, s2, torch.zeros_like(scale), 2, True, True, "ROUND") / s2
    return level * scale


# ---------------------------------------------------------------------------
# The ops.


@torch.library.custom_op("bitsmith::int_quant", mutates_args=())
def int_quant(
    x: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor,
    bits: int,
    signed: bool,
    narrow: bool,
    rounding: str,
) -> torch.Tensor:
    """QONNX Quant in float32: ``y = (R(clamp(x/s + z, min, max)) - z) * s``."""
    _check_f32("int_quant", x=x, scale=scale, zero_point=zero_point)
    if _use_core(x, scale, zero_point, auto=False):
        x = x.detach().contiguous()
        if _out_shape(x, scale, zero_point) == x.shape:  # the usual case: no copies at all
            out = torch.empty_like(x, memory_format=torch.contiguous_format)
            _core.int_quant_into(x.numpy(), scale.detach().contiguous().numpy(),
                                 zero_point.detach().contiguous().numpy(), out.numpy(), bits, signed, narrow,
                                 rounding)
            return out
        y = _core.int_quant(_np(x), _np(scale), _np(zero_point), bits, signed, narrow, rounding, exact=False)
        return torch.from_numpy(np.ascontiguousarray(y))
    return _int_quant_torch(x, scale, zero_point, bits, signed, narrow, rounding)


@int_quant.register_fake
def _(x, scale, zero_point, bits, signed, narrow, rounding):
    return x.new_empty(_out_shape(x, scale, zero_point))


def _int_setup(ctx, inputs, output):
    x, scale, zero_point, bits, signed, narrow, rounding = inputs
    ctx.save_for_backward(x, scale, zero_point)
    ctx.args = (bits, signed, narrow, rounding)


def _int_backward(ctx, grad):
    x, scale, zero_point = ctx.saved_tensors
    return _int_grads(ctx, grad, x, scale, zero_point, *ctx.args) + (None,) * 4


def _int_grads(ctx, grad, x, scale, zero_point, bits, signed, narrow, rounding):
    if not (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):
        # Only x needs a gradient (fixed or statistics-based scales, the common case):
        # the clipped straight-through mask is all it takes, no levels.
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return _sum_to(_ste_grad(grad, x, scale, zero_point, bits, signed, narrow), x.shape), None, None
    q, inside = _int_levels(x, scale, zero_point, bits, signed, narrow, rounding)
    return _grads_from_levels(ctx, grad, x, scale, zero_point, q, inside)


def _f32_outside(v: float, toward: float) -> float:
    # The float32 next to float32(v) toward `toward`: t <= that iff t < v for float32 t.
    return float(np.nextafter(np.float32(v), np.float32(toward)))


def _ste_grad(grad, x, scale, zero_point, bits, signed, narrow):
    """torch.where(_int_inside(x/s + z), grad, 0) with one temporary instead of five (three
    in-place passes over it, then one fused masking kernel): aten's
    hardtanh_backward keeps grad where lo' < t < hi' (strict, float32 compares), which
    with lo' and hi' the float32 neighbours outside lo and hi is lo <= t <= hi. NaN
    compares false in its vectorized loop and true in its scalar tail, so NaN becomes inf
    first (outside, as _int_inside has it)."""
    lo, hi = (-1, 1) if bits == 1 and signed else _int_range(bits, signed, narrow)
    t = torch.div(x, scale)
    t.add_(zero_point)
    t.nan_to_num_(nan=math.inf, posinf=math.inf, neginf=-math.inf)
    return torch.ops.aten.hardtanh_backward(grad.expand(t.shape), t, _f32_outside(lo, -math.inf),
                                            _f32_outside(hi, math.inf))


def _grads_from_levels(ctx, grad, x, scale, zero_point, q, inside):
    level = q - zero_point
    gx = gs = gz = None
    if ctx.needs_input_grad[0]:
        gx = _sum_to(torch.where(inside, grad, 0.0), x.shape)
    if ctx.needs_input_grad[1]:
        ds = torch.where(inside, level - x / scale, level)
        gs = _sum_to(grad * ds, scale.shape)
    if ctx.needs_input_grad[2]:
        dz = torch.where(inside, torch.zeros_like(grad), -scale.expand_as(grad))
        gz = _sum_to(grad * dz, zero_point.shape)
    return gx, gs, gz


int_quant.register_autograd(_int_backward, setup_context=_int_setup)

# Learned bit width: the bit width is a float tensor (one per tensor), rounded half to
# even and clamped to 2..16 in the forward; the gradient passes straight through that
# rounding and reaches it through the clamp bounds, as in Brevitas.
MIN_LEARNED_BITS, MAX_LEARNED_BITS = 2, 16


def _learned_bits(bits: torch.Tensor) -> int:
    if bits.numel() != 1 or not bool(torch.isfinite(bits).all()):
        raise ValueError(f"a learned bit width must be one finite number, got shape {tuple(bits.shape)}")
    b = float(bits.detach().reshape(()).item())
    return int(min(max(round(b), MIN_LEARNED_BITS), MAX_LEARNED_BITS))


@torch.library.custom_op("bitsmith::int_quant_learned_bits", mutates_args=())
def int_quant_learned_bits(
    x: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor,
    bits: torch.Tensor,
    signed: bool,
    narrow: bool,
    rounding: str,
) -> torch.Tensor:
    """int_quant with the bit width round(bits) clamped to 2..16, bits a one-element tensor."""
    return int_quant(x, scale, zero_point, _learned_bits(bits), signed, narrow, rounding)


@int_quant_learned_bits.register_fake
def _(x, scale, zero_point, bits, signed, narrow, rounding):
    return x.new_empty(_out_shape(x, scale, zero_point))


def _learned_setup(ctx, inputs, output):
    x, scale, zero_point, bits, signed, narrow, rounding = inputs
    ctx.save_for_backward(x, scale, zero_point, bits)
    ctx.args = (signed, narrow, rounding)


def _learned_backward(ctx, grad):
    # Tensor operations only (no .item()), so torch.compile can trace the backward.
    x, scale, zero_point, bits = ctx.saved_tensors
    signed, narrow, rounding = ctx.args
    b = torch.clamp(torch.round(bits.detach().reshape(())), MIN_LEARNED_BITS, MAX_LEARNED_BITS)
    p = torch.exp2(b - 1) if signed else torch.exp2(b)
    hi = p - 1 if signed else p - 1 - int(narrow)
    lo = -p + int(narrow) if signed else torch.zeros_like(p)
    t = x / scale + zero_point
    inside = (t >= lo) & (t <= hi)
    q = _round(torch.clamp(t, lo, hi), rounding)
    gx, gs, gz = _grads_from_levels(ctx, grad, x, scale, zero_point, q, inside)
    gb = None
    if ctx.needs_input_grad[3]:
        # d max / db and d min / db of SEMANTICS.md's range table (narrow adds a constant).
        dhi = math.log(2.0) * p
        dlo = -dhi if signed else torch.zeros_like(p)
        zero = torch.zeros_like(grad)
        db = torch.where(t > hi, scale * dhi, torch.where(t < lo, scale * dlo, zero))
        gb = (grad * db).sum().reshape(bits.shape)
    return gx, gs, gz, gb, None, None, None


int_quant_learned_bits.register_autograd(_learned_backward, setup_context=_learned_setup)


@torch.library.custom_op("bitsmith::float_quant", mutates_args=())
def float_quant(
    x: torch.Tensor,
    scale: torch.Tensor,
    exp_bits: int,
    mant_bits: int,
    bias: int,
    max_val: float,
    saturating: bool,
    has_inf: bool,
    has_nan: bool,
    rounding: str,
) -> torch.Tensor:
    """QONNX FloatQuant in float32 (max_val=inf for the format's formula alone)."""
    _check_f32("float_quant", x=x, scale=scale)
    if _use_core(x, scale):
        y = _core.float_quant(
            _np(x), _np(scale), exp_bits, mant_bits, bias, max_val, saturating, has_inf, has_nan, rounding,
            exact=False,
        )
        return torch.from_numpy(np.ascontiguousarray(y))
    return _float_quant_torch(x, scale, exp_bits, mant_bits, bias, max_val, saturating, has_inf, has_nan, rounding)


@float_quant.register_fake
def _(x, scale, exp_bits, mant_bits, bias, max_val, saturating, has_inf, has_nan, rounding):
    return x.new_empty(_out_shape(x, scale))


def _float_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0], inputs[1])
    ctx.args = inputs[2:]


def _float_backward(ctx, grad):
    x, scale = ctx.saved_tensors
    c, inside = _float_levels(x, scale, *ctx.args)
    gx = gs = None
    if ctx.needs_input_grad[0]:
        gx = _sum_to(torch.where(inside, grad, 0.0), x.shape)
    if ctx.needs_input_grad[1]:
        u = (x / scale).double()
        # Where a non-saturating format overflowed to inf or NaN there is no gradient.
        ds = torch.where(inside, c - u, torch.where(torch.isfinite(c), c, torch.zeros_like(c)))
        gs = _sum_to(grad * ds.float(), scale.shape)
    return (gx, gs) + (None,) * 8


float_quant.register_autograd(_float_backward, setup_context=_float_setup)


@torch.library.custom_op("bitsmith::bipolar_quant", mutates_args=())
def bipolar_quant(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """+s where x/s >= 0, -s elsewhere: QONNX's signed 1-bit Quant with zero point 0."""
    _check_f32("bipolar_quant", x=x, scale=scale)
    zero = torch.zeros((), dtype=torch.float32, device=x.device)
    if _use_core(x, scale):
        y = _core.int_quant(_np(x), _np(scale), _np(zero), 1, True, False, "ROUND", exact=False)
        return torch.from_numpy(np.ascontiguousarray(y))
    return _int_quant_torch(x, scale, zero, 1, True, False, "ROUND")


@bipolar_quant.register_fake
def _(x, scale):
    return x.new_empty(_out_shape(x, scale))


@torch.library.custom_op("bitsmith::ternary_quant", mutates_args=())
def ternary_quant(x: torch.Tensor, scale: torch.Tensor, threshold: float) -> torch.Tensor:
    """+-s where |x/s| > threshold, else 0 (decided as x / (2*threshold*s) rounds to +-1)."""
    _check_f32("ternary_quant", x=x, scale=scale)
    if _use_core(x, scale):
        s2 = _ternary_inner_scale(scale, threshold)
        z = np.zeros((), dtype=np.float32)
        y = _core.int_quant(_np(x), _np(s2), z, 2, True, True, "ROUND", exact=False)
        # y is exactly -s2, +-0 or +s2, so y / s2 is exactly the level.
        level = torch.from_numpy(np.ascontiguousarray(y)) / s2
        return level * scale
    return _ternary_quant_torch(x, scale, threshold)


@ternary_quant.register_fake
def _(x, scale, threshold):
    return x.new_empty(_out_shape(x, scale))


def _unit_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0], inputs[1], output)


def _unit_backward(ctx, grad):
    # Bipolar and ternary: levels -1, (0,) +1 in units of s; clamped where |x/s| > 1.
    x, scale, y = ctx.saved_tensors
    u = x / scale
    inside = u.abs() <= 1
    gx = gs = None
    if ctx.needs_input_grad[0]:
        gx = _sum_to(torch.where(inside, grad, 0.0), x.shape)
    if ctx.needs_input_grad[1]:
        level = y / scale  # exactly -1, 0 or +1
        gs = _sum_to(grad * torch.where(inside, level - u, level), scale.shape)
    return (gx, gs) + (None,) * (len(ctx.needs_input_grad) - 2)


bipolar_quant.register_autograd(_unit_backward, setup_context=_unit_setup)
ternary_quant.register_autograd(_unit_backward, setup_context=_unit_setup)


# ---------------------------------------------------------------------------


def fake_quant(
    x: torch.Tensor,
    spec,
    scale: torch.Tensor,
    zero_point: Optional[torch.Tensor] = None,
    bits: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Applies a spec of bitsmith.quant with a given scale (and zero point).

    ``bits`` is the trained bit width of an ``IntQuant(learned_bits=True)`` spec (a
    one-element float tensor, initialised from ``spec.bits``); without it the spec's
    fixed ``bits`` is used.

    Finding the scale is :func:`compute_scale`'s job (or a learned parameter's); this
    maps the spec's fixed settings onto the op. For ``granularity='per_group'`` the
    scale has compute_scale's grouped shape ``x.shape[:-1] + (groups, 1)`` and x is
    viewed as ``(..., groups, group_size)`` around the op.
    """
    if getattr(spec, "granularity", None) == "per_group":
        grouped = _grouped(x, spec.group_size)
        return fake_quant(grouped, spec.replace(granularity="per_tensor", group_size=None), scale,
                          zero_point, bits).reshape(x.shape)
    if isinstance(spec, IntQuant):
        if zero_point is None:
            zero_point = torch.zeros((), dtype=torch.float32, device=x.device)
        elif not spec.zero_point:
            raise ValueError("a zero point was given for an IntQuant spec with zero_point=False")
        if bits is not None:
            if not spec.learned_bits:
                raise ValueError("a bit-width tensor was given for an IntQuant spec with learned_bits=False")
            return int_quant_learned_bits(x, scale, zero_point, bits, spec.signed, spec.narrow, spec.rounding)
        return int_quant(x, scale, zero_point, spec.bits, spec.signed, spec.narrow, spec.rounding)
    if zero_point is not None or bits is not None:
        raise ValueError(f"{type(spec).__name__} takes no zero point and no bit width")
    if isinstance(spec, MiniFloatQuant):
        max_val = math.inf if spec.max_val is None else float(spec.max_val)
        return float_quant(
            x, scale, spec.exp_bits, spec.mant_bits, spec.bias, max_val, spec.saturating, spec.has_inf,
            spec.has_nan, spec.rounding,
        )
    if isinstance(spec, BipolarQuant):
        return bipolar_quant(x, scale)
    if isinstance(spec, TernaryQuant):
        return ternary_quant(x, scale, float(spec.threshold))
    raise TypeError(f"not a bitsmith.quant spec: {spec!r}")


# ---------------------------------------------------------------------------
# Scales from statistics (docs/quantizers.md, "Scales from data").

_MSE_CANDIDATES = 40  # clipping ranges alpha * max|x|, alpha from 1 down to 0.2


def _grouped(x: torch.Tensor, group_size: int) -> torch.Tensor:
    n = x.shape[-1] if x.dim() else 1
    if x.dim() == 0 or n % group_size:
        raise ValueError(f"per_group needs the last dimension ({n}) to be a multiple of group_size={group_size}")
    return x.reshape(*x.shape[:-1], n // group_size, group_size)


def _rows(x: torch.Tensor, spec) -> tuple[torch.Tensor, tuple[int, ...]]:
    """x as (groups, elements) rows, and the keepdim shape the scale takes."""
    if spec.granularity == "per_tensor":
        return x.reshape(1, -1), ()
    if spec.granularity == "per_channel":
        axis = spec.channel_axis % x.dim() if x.dim() else 0
        if x.dim() == 0:
            raise ValueError("per_channel needs a tensor with a channel axis")
        shape = tuple(n if d == axis else 1 for d, n in enumerate(x.shape))
        return x.movedim(axis, 0).reshape(x.shape[axis], -1), shape
    g = _grouped(x, spec.group_size)
    return g.reshape(-1, spec.group_size), tuple(g.shape[:-1]) + (1,)


def _level_max(spec) -> float:
    """The largest level in units of the scale (symmetric specs)."""
    if isinstance(spec, IntQuant):
        return float(_int_range(spec.bits, spec.signed, spec.narrow)[1])
    if isinstance(spec, MiniFloatQuant):
        return float(spec.max_value)
    return 1.0  # bipolar, ternary


def _nearest_rank(v: torch.Tensor, p: float) -> torch.Tensor:
    """Per row, the value at rank ceil(p/100 * n) of the sorted row (nearest-rank percentile)."""
    n = v.shape[1]
    k = min(max(math.ceil(p / 100.0 * n), 1), n)
    return torch.kthvalue(v, k, dim=1).values


def _po2_up(scale: torch.Tensor) -> torch.Tensor:
    # The smallest power of two >= scale, so the quantizer's range still covers the statistic.
    m, e = torch.frexp(scale)
    return torch.where(m == 0.5, scale, torch.ldexp(torch.ones_like(scale), e))


def _positive(scale: torch.Tensor) -> torch.Tensor:
    # An all-zero group has no range; any positive scale quantizes it exactly.
    return torch.where(scale > 0, scale, torch.ones_like(scale))


@torch.no_grad()
def compute_scale(x: torch.Tensor, spec) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The scale (and, for ``IntQuant(zero_point=True)``, the zero point) a spec's statistics give for x.

    Shapes: ``()`` per tensor; x's rank with 1 everywhere but ``channel_axis`` per channel;
    ``x.shape[:-1] + (groups, 1)`` per group. Both are float32 and broadcast as fake_quant
    expects. ``scale_stats``: ``minmax`` uses max|x| (min and max with a zero point),
    ``percentile`` the nearest-rank percentile of |x| (the two tails with a zero point),
    ``mse`` the clipping range alpha * max|x| with the least squared quantization error
    over 40 alphas from 1 to 0.2, ``const`` the const_scale. ``scale='po2'`` rounds the
    scale up to a power of two.
    """
    x = x.detach().float()
    if not bool(torch.isfinite(x).all()):
        raise ValueError("compute_scale: x holds NaN or inf; statistics need finite values")
    if spec.scale_stats == "const":
        c = 1.0 if spec.const_scale is None else float(spec.const_scale)
        return torch.tensor(c, dtype=torch.float32, device=x.device), None
    rows, shape = _rows(x, spec)
    if isinstance(spec, IntQuant) and spec.zero_point:
        scale, zp = _asymmetric(rows, spec)
        return scale.reshape(shape), zp.reshape(shape)
    unsigned = isinstance(spec, IntQuant) and not spec.signed
    mag = rows.clamp(min=0) if unsigned else rows.abs()
    top = _level_max(spec)
    if spec.scale_stats == "minmax":
        r = mag.amax(dim=1)
    elif spec.scale_stats == "percentile":
        r = _nearest_rank(mag, spec.percentile)
    else:
        r = _mse_range(rows, mag.amax(dim=1), spec, top)
    scale = _positive((r / top).float())
    if spec.scale == "po2":
        scale = _po2_up(scale)
    return scale.reshape(shape), None


def _quant_rows(rows: torch.Tensor, spec, scale: torch.Tensor, zp: Optional[torch.Tensor] = None):
    flat = spec.replace(granularity="per_tensor", group_size=None)
    with backend("torch"):
        return fake_quant(rows, flat, scale.unsqueeze(1), None if zp is None else zp.unsqueeze(1))


def _mse_range(rows, amax, spec, top):
    best_r, best_err = amax, None
    for alpha in torch.linspace(1.0, 0.2, _MSE_CANDIDATES).tolist():
        r = amax * alpha
        scale = _positive((r / top).float())
        if spec.scale == "po2":
            scale = _po2_up(scale)
        err = (_quant_rows(rows, spec, scale) - rows).double().pow(2).sum(dim=1)
        if best_err is None:
            best_err = err
            continue
        better = err < best_err  # ties keep the wider range
        best_r = torch.where(better, r, best_r)
        best_err = torch.where(better, err, best_err)
    return best_r


def _asymmetric(rows, spec):
    qmin, qmax = _int_range(spec.bits, spec.signed, spec.narrow)
    if spec.scale_stats == "percentile":
        lo = -_nearest_rank(-rows, spec.percentile)
        hi = _nearest_rank(rows, spec.percentile)
    else:
        lo, hi = rows.amin(dim=1), rows.amax(dim=1)
    # The range keeps 0, so zero stays exactly representable (padding, ReLU outputs).
    lo, hi = lo.clamp(max=0), hi.clamp(min=0)

    def params(a):
        scale = _positive(((hi - lo) * a / (qmax - qmin)).float())
        if spec.scale == "po2":
            scale = _po2_up(scale)
        zp = torch.clamp(torch.round(qmin - lo * a / scale), qmin, qmax).float()
        return scale, zp

    if spec.scale_stats != "mse":
        return params(1.0)
    best, best_err = params(1.0), None
    for alpha in torch.linspace(1.0, 0.2, _MSE_CANDIDATES).tolist():
        scale, zp = params(alpha)
        err = (_quant_rows(rows, spec, scale, zp) - rows).double().pow(2).sum(dim=1)
        if best_err is None:
            best_err = err
            continue
        better = err < best_err
        best = (torch.where(better, scale, best[0]), torch.where(better, zp, best[1]))
        best_err = torch.where(better, err, best_err)
    return best
