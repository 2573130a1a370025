"""bitsmith.quant specs and the bitsmith::* fake-quant ops, in the style of tinygrad's op tests.

One helper, ``check``, runs the same input through bitsmith's fake-quant (both the C++
core path and the pure-PyTorch path) and through an independent reference written
here in numpy float32 (the float meaning qonnx computes), then compares the forward
output bit for bit and the gradients of x, scale and zero point bit for bit. Scales
and zero points are per element in ``check`` so every gradient is one float32 product
(no summation order to argue about); broadcast reductions are tested on a grid where
every sum is exact. An exact Fraction reference pins the integer quantizer at
power-of-two scales, and qonnx's own functions serve as a second oracle.
"""

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")
bitsmith = pytest.importorskip("bitsmith")
pytest.importorskip("bitsmith._core")

from bitsmith import fake_quant as FQ  # noqa: E402
from bitsmith.quant import (  # noqa: E402
    FP4_E2M1,
    FP6_E2M3,
    FP6_E3M2,
    FP8_E4M3,
    FP8_E5M2,
    BipolarQuant,
    IntQuant,
    MiniFloatQuant,
    SpecError,
    TernaryQuant,
)

F32 = np.float32
MODES = ["ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN", "CEIL", "FLOOR", "UP", "DOWN"]
RNG_SEED = 1234


# ---------------------------------------------------------------------------
# Independent references (numpy float32, SEMANTICS.md formulas).


def ref_round(t, mode):
    t = np.asarray(t, dtype=F32)
    with np.errstate(invalid="ignore"):
        if mode in ("ROUND", "HALF_EVEN"):
            return np.round(t)
        if mode == "CEIL":
            return np.ceil(t)
        if mode == "FLOOR":
            return np.floor(t)
        if mode == "DOWN":
            return np.trunc(t)
        if mode == "UP":
            return np.sign(t) * np.ceil(np.abs(t))
        if mode == "HALF_UP":
            return np.sign(t) * np.floor(np.abs(t) + F32(0.5))
        if mode == "HALF_DOWN":
            return np.sign(t) * np.ceil(np.abs(t) - F32(0.5))
    raise AssertionError(mode)


def ref_range(bits, signed, narrow):
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - int(narrow)


def ref_int(x, s, z, g, spec):
    """(y, dy/dx*g, dy/ds*g, dy/dz*g) of QONNX Quant with the clipped STE and LSQ scale gradient."""
    lo, hi = ref_range(spec.bits, spec.signed, spec.narrow)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        u = x / s
        t = u + z
        inside = (t >= lo) & (t <= hi)
        level = ref_round(np.clip(t, F32(lo), F32(hi)), spec.rounding) - z
        y = level * s
        gx = np.where(inside, g, F32(0))
        gs = g * np.where(inside, level - u, level)
        gz = g * np.where(inside, F32(0), -s)
    return y, gx, gs, gz


def ref_unit(x, s, g, levels):
    """Bipolar/ternary gradients: levels in units of s, clipped where |x/s| > 1."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        u = x / s
        inside = np.abs(u) <= 1
        return np.where(inside, g, F32(0)), g * np.where(inside, levels - u, levels)


def ref_bipolar(x, s, g):
    with np.errstate(invalid="ignore", divide="ignore"):
        levels = np.where(x / s >= 0, F32(1), F32(-1))
    return (levels * s, *ref_unit(x, s, g, levels))


def ref_ternary(x, s, g, threshold):
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        s2 = s * F32(2 * threshold)
        # QONNX Quant with zero point 0: x/s2 + 0 turns -0 into +0.
        levels = np.round(np.clip(x / s2 + F32(0), F32(-1), F32(1))) - F32(0)
    return (levels * s, *ref_unit(x, s, g, levels))


def ref_minifloat(x, s, g, spec):
    """QONNX FloatQuant as qonnx computes it in numpy with float32 operands."""
    E, M, bias = spec.exp_bits, spec.mant_bits, spec.bias
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        u = x / s
        e = np.floor(np.log2(np.abs(u) + np.finfo(F32).tiny))
        e = np.maximum(e - F32(M), F32(1 - bias - M))
        sc = np.exp2(e).astype(F32)
        q = sc * ref_round(u / sc, spec.rounding)
        top = (2.0 - 2.0**-M) * float(F32(2.0) ** F32(2**E - 1 - bias))
        maxv = top if spec.max_val is None else min(top, spec.max_val)
        q64 = q.astype(np.float64)
        over, under = q64 > maxv, q64 < -maxv
        c = np.clip(q64, -maxv, maxv)
        if not spec.saturating:
            if spec.has_inf:
                c[over], c[under] = np.inf, -np.inf
            else:
                c[over | under | np.isinf(q64)] = np.nan
        y = (c * s.astype(np.float64)).astype(F32)
        u64 = u.astype(np.float64)
        inside = np.abs(u64) <= maxv
        gx = np.where(inside, g, F32(0))
        ds = np.where(inside, c - u64, np.where(np.isfinite(c), c, 0.0)).astype(F32)
        gs = g * ds
    return y, gx, gs


# ---------------------------------------------------------------------------
# The helper.


def same_bits(a, b):
    """Bit-for-bit equality of float32 arrays (signed zeros included), any NaN equal to any NaN."""
    a, b = np.asarray(a, dtype=F32), np.asarray(b, dtype=F32)
    if a.shape != b.shape:
        return False
    na, nb = np.isnan(a), np.isnan(b)
    return bool(np.array_equal(na, nb) and np.array_equal(a[~na].view(np.uint32), b[~nb].view(np.uint32)))


def assert_same(name, got, want):
    got = got.detach().numpy() if isinstance(got, torch.Tensor) else got
    if not same_bits(got, want):
        bad = np.flatnonzero(~((got == want) | (np.isnan(got) & np.isnan(want))) |
                             (np.signbit(got) != np.signbit(want)))[:5]
        raise AssertionError(f"{name} differs at {bad}: got {np.ravel(got)[bad]}, want {np.ravel(want)[bad]}")


def run_op(spec, x, s, z):
    """Forward and gradients of bitsmith's fake-quant, on the C++ path and the PyTorch path."""
    results = []
    for name in ("core", "torch"):
        xt = torch.tensor(x, requires_grad=True)
        st = torch.tensor(s, requires_grad=True)
        zt = None if z is None else torch.tensor(z, requires_grad=True)
        with FQ.backend(name):
            y = FQ.fake_quant(xt, spec, st, zt)
        g = torch.tensor(run_op.grad_out)
        y.backward(g)
        results.append((y, xt.grad, st.grad, None if zt is None else zt.grad))
    return results


def check(spec, x, s, z=None):
    """Runs x (scale s, zero point z, per element) through the op and the reference."""
    x, s = np.asarray(x, F32), np.broadcast_to(np.asarray(s, F32), np.shape(x)).copy()
    g = np.random.default_rng(RNG_SEED).uniform(0.5, 2.0, size=x.shape).astype(F32)
    run_op.grad_out = g
    if isinstance(spec, IntQuant):
        zz = np.zeros_like(x) if z is None else np.broadcast_to(np.asarray(z, F32), x.shape).copy()
        want = ref_int(x, s, zz, g, spec)
    elif isinstance(spec, MiniFloatQuant):
        want = ref_minifloat(x, s, g, spec)
    elif isinstance(spec, BipolarQuant):
        want = ref_bipolar(x, s, g)
    else:
        want = ref_ternary(x, s, g, spec.threshold)
    zarg = None
    if isinstance(spec, IntQuant):
        zarg, want = (None, want[:3]) if z is None else (zz, want)
    for path, got in zip(("core", "torch"), run_op(spec, x, s, zarg)):
        for name, gv, wv in zip(("y", "grad x", "grad scale", "grad zero point"), got[: len(want)], want):
            assert_same(f"{path} {name}", gv, wv)


# ---------------------------------------------------------------------------
# Inputs: ties, one step either side, clamped values, zeros of both signs, NaN, inf.


def int_inputs(spec, rng):
    lo, hi = ref_range(spec.bits, spec.signed, spec.narrow)
    n = 96
    span = max(hi - lo, 2)
    k = rng.integers(lo - 3, hi + 3, size=n).astype(F32)
    frac = rng.choice(np.array([0.5, -0.5, 0.25, 0.0, 0.49999997, 0.50000006], F32), size=n)
    levels = np.concatenate([k + frac, rng.normal(0, span / 2, size=n).astype(F32),
                             np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e30, -1e30], F32)])
    # Power-of-two scales keep the ties exact; the others exercise float32 division.
    s = rng.choice(np.array([0.125, 1.0, 2.0**-20, 0.0371, 3.0, 1e-3], F32), size=levels.shape)
    return (levels * s).astype(F32), s


INT_SPECS = [
    IntQuant(8),
    IntQuant(4, signed=False),
    IntQuant(3, narrow=True),
    IntQuant(2, signed=False, narrow=True),
    IntQuant(1, signed=False),
    IntQuant(16),
    IntQuant(5, signed=False, zero_point=True),
    IntQuant(4, signed=True, zero_point=True),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spec", INT_SPECS, ids=lambda s: f"int{s.bits}{'s' if s.signed else 'u'}"
                         f"{'n' if s.narrow else ''}{'z' if s.zero_point else ''}")
def test_int_quant(spec, mode):
    spec = spec.replace(rounding=mode)
    rng = np.random.default_rng(RNG_SEED)
    x, s = int_inputs(spec, rng)
    z = None
    if spec.zero_point:
        lo, hi = ref_range(spec.bits, spec.signed, spec.narrow)
        z = rng.integers(lo, hi + 1, size=x.shape).astype(F32)
        z[:7] = np.array([0.5, -0.25, 0, 0, 0, 0, 0], F32)  # qonnx allows non-integer zero points
    check(spec, x, s, z)


MINIFLOAT_SPECS = {
    "e4m3": FP8_E4M3,
    "e5m2": FP8_E5M2,
    "e3m2": FP6_E3M2,
    "e2m3": FP6_E2M3,
    "e2m1": FP4_E2M1,
    "e3m4_b5": MiniFloatQuant(3, 4, bias=5),
    "e4m3_inf": MiniFloatQuant(4, 3, saturating=False, has_inf=True),
    "e4m3_nan": FP8_E4M3.replace(saturating=False),
    "e5m0": MiniFloatQuant(5, 0),
}


def minifloat_inputs(spec, rng):
    top = spec.max_value
    sub = 2.0 ** (1 - spec.bias - spec.mant_bits)  # smallest subnormal step
    n = 128
    mag = np.exp2(rng.uniform(math.log2(sub) - 2, math.log2(top) + 1.5, size=n))
    # Ties between neighbouring levels: (m + 0.5) * 2^e for mantissa m of the format.
    e = rng.integers(1 - spec.bias - spec.mant_bits, int(math.log2(top)) - spec.mant_bits + 1, size=n)
    m = rng.integers(0, 2 ** (spec.mant_bits + 1), size=n)
    ties = (m + 0.5) * np.exp2(e.astype(np.float64))
    # One float32 step below each power of two: float32 log2 rounds some of these up
    # to the power itself (the float meaning's known hazard), which must match too.
    k = np.arange(1 - spec.bias - spec.mant_bits, int(math.log2(top)) + 2)
    below = np.nextafter(np.exp2(k).astype(F32), F32(0))
    u = np.concatenate([mag, ties, below, [0.0, -0.0, sub / 2, sub, top, top * 1.01, top * 4, np.inf, -np.inf,
                                    np.nan, 1e38, 3e-45]]).astype(F32)
    u[: 2 * n] *= rng.choice(np.array([1, -1], F32), size=2 * n)
    s = rng.choice(np.array([1.0, 0.25, 2.0**-10, 0.0371, 3.0], F32), size=u.shape)
    return (u * s).astype(F32), s


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(MINIFLOAT_SPECS))
def test_minifloat_quant(name, mode):
    spec = MINIFLOAT_SPECS[name].replace(rounding=mode)
    x, s = minifloat_inputs(spec, np.random.default_rng(RNG_SEED))
    check(spec, x, s)


def unit_inputs(rng):
    u = np.concatenate([rng.normal(0, 1, size=128), [0.0, -0.0, 0.5, -0.5, 0.15, -0.15, 0.3, 1.0, -1.0,
                                                      1.5, -1e-45, np.nan, np.inf, -np.inf]]).astype(F32)
    s = rng.choice(np.array([1.0, 0.5, 0.0371, 3.0], F32), size=u.shape)
    return (u * s).astype(F32), s


def test_bipolar_quant():
    check(BipolarQuant(), *unit_inputs(np.random.default_rng(RNG_SEED)))


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.75, 0.05])
def test_ternary_quant(threshold):
    check(TernaryQuant(threshold), *unit_inputs(np.random.default_rng(RNG_SEED)))


def test_ternary_half_is_narrow_2bit_quant():
    x, s = unit_inputs(np.random.default_rng(RNG_SEED))
    xt, st = torch.tensor(x), torch.tensor(s)
    a = FQ.fake_quant(xt, TernaryQuant(0.5), st)
    b = FQ.fake_quant(xt, IntQuant(2, narrow=True), st)
    assert same_bits(a.numpy(), b.numpy())


# ---------------------------------------------------------------------------
# Exact references and qonnx as a second oracle.


def round_fraction(v: Fraction, mode: str) -> int:
    fl = math.floor(v)
    if mode == "FLOOR":
        return fl
    if mode == "CEIL":
        return math.ceil(v)
    if mode == "DOWN":
        return math.trunc(v)
    if mode == "UP":
        return fl if v == fl else (math.ceil(v) if v > 0 else fl)
    diff = v - fl
    if diff != Fraction(1, 2):
        return fl + (diff > Fraction(1, 2))
    if mode in ("ROUND", "HALF_EVEN"):
        return fl + (fl % 2)
    if mode == "HALF_UP":
        return fl + 1 if v > 0 else fl
    return fl if v > 0 else fl + 1  # HALF_DOWN


@pytest.mark.parametrize("mode", MODES)
def test_int_quant_matches_fractions_at_po2_scale(mode):
    # At power-of-two scales on a grid of eighths, float32 makes no rounding error,
    # so the float meaning must equal the exact one.
    spec = IntQuant(4, signed=True, zero_point=True, rounding=mode)
    s = F32(0.25)
    x = (np.arange(-80, 81, dtype=F32) / 8) * s
    z = F32(3)
    y = FQ.fake_quant(torch.tensor(x), spec, torch.tensor(s), torch.tensor(z)).numpy()
    for xi, yi in zip(x, y):
        t = Fraction(float(xi)) / Fraction(float(s)) + int(z)
        t = min(max(t, Fraction(-8)), Fraction(7))
        want = (round_fraction(t, mode) - int(z)) * Fraction(float(s))
        assert Fraction(float(yi)) == want, (xi, yi, want)


def test_qonnx_functions_agree():
    intq = pytest.importorskip("qonnx.custom_op.general.intquant")
    floatq = pytest.importorskip("qonnx.custom_op.general.floatquant")
    rng = np.random.default_rng(RNG_SEED)
    for mode in MODES:
        spec = IntQuant(4, signed=True, narrow=False, rounding=mode)
        x, s = int_inputs(spec, rng)
        x, s = x[np.isfinite(x)], s[np.isfinite(x)]
        want = intq.int_quant(x, s, F32(0), F32(4), True, False, mode).astype(F32)
        got = FQ.fake_quant(torch.tensor(x), spec, torch.tensor(s)).numpy()
        assert same_bits(got, want), mode
        for spec in (FP8_E4M3, FP4_E2M1, MINIFLOAT_SPECS["e4m3_inf"]):
            spec = spec.replace(rounding=mode)
            x, s = minifloat_inputs(spec, rng)
            max_val = None if spec.max_val is None else F32(spec.max_val)
            with np.errstate(all="ignore"):
                want = floatq.float_quant(x, s, F32(spec.exp_bits), F32(spec.mant_bits), F32(spec.bias),
                                          max_val=max_val, has_inf=spec.has_inf, has_nan=spec.has_nan,
                                          rounding_mode=mode, saturation=spec.saturating)
            got = FQ.fake_quant(torch.tensor(x), spec, torch.tensor(s)).numpy()
            assert same_bits(got, np.asarray(want, F32)), (spec, mode)


# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["ROUND", "FLOOR", "HALF_UP"])
@pytest.mark.parametrize("spec", INT_SPECS + [None], ids=lambda s: "bipolar1" if s is None else
                         f"int{s.bits}{'s' if s.signed else 'u'}{'n' if s.narrow else ''}{'z' if s.zero_point else ''}")
def test_int_quant_fixed_scale_gradient(spec, mode):
    """Statistics and const scales need no scale gradient: the backward then takes the fused
    straight-through mask (fake_quant._ste_grad). Same inputs as test_int_quant (ties, zeros,
    NaN, inf), every backend, and an expanded (stride 0) incoming gradient. None stands for
    the op's signed 1-bit (bipolar) case, which no IntQuant spec builds."""
    bipolar = spec is None
    spec = IntQuant(2, signed=False) if bipolar else spec.replace(rounding=mode)
    bits, signed = (1, True) if bipolar else (spec.bits, spec.signed)
    rng = np.random.default_rng(RNG_SEED)
    x, s = int_inputs(spec, rng)
    z = np.zeros_like(x)
    if spec.zero_point:
        lo, hi = ref_range(spec.bits, spec.signed, spec.narrow)
        z = rng.integers(lo, hi + 1, size=x.shape).astype(F32)
        z[:2] = np.array([0.5, -0.25], F32)

    def want(g):
        if not bipolar:
            return ref_int(x, s, z, g, spec)[:2]
        with np.errstate(invalid="ignore", divide="ignore"):  # +-s; the gradient passes for |t| <= 1
            t = x / s + z
            return np.where(t >= 0, F32(1), F32(-1)) * s, np.where(np.abs(t) <= 1, g, F32(0))

    g = np.random.default_rng(RNG_SEED).uniform(0.5, 2.0, size=x.shape).astype(F32)
    for name in ("core", "torch", "auto"):
        for expanded in (False, True):
            xt = torch.tensor(x, requires_grad=True)
            with FQ.backend(name):
                y = FQ.int_quant(xt, torch.tensor(s), torch.tensor(z), bits, signed, spec.narrow, spec.rounding)
            if expanded:
                y.sum().backward()
                y_ref, gx_ref = want(np.ones_like(g))
            else:
                y.backward(torch.tensor(g))
                y_ref, gx_ref = want(g)
            assert_same(f"{name} y", y, y_ref)
            assert_same(f"{name} grad x (expanded={expanded})", xt.grad, gx_ref)


# Broadcast scales: forward against numpy broadcasting, gradients reduced exactly.


def test_per_channel_scale_and_gradient_reduction():
    spec = IntQuant(3, signed=True)
    s = np.array([0.25, 0.5, 1.0], F32).reshape(3, 1)
    x = (np.arange(-24, 24, dtype=F32).reshape(1, 48) / 4) * s  # grid of quarter levels, exact sums
    g = np.ones_like(x)
    y_ref, gx_ref, gs_ref, _ = ref_int(x, s, np.zeros_like(x), g, spec)
    for name in ("core", "torch"):
        xt, st = torch.tensor(x, requires_grad=True), torch.tensor(s, requires_grad=True)
        with FQ.backend(name):
            y = FQ.fake_quant(xt, spec, st)
        y.sum().backward()
        assert_same(f"{name} y", y, y_ref)
        assert_same(f"{name} grad x", xt.grad, gx_ref)
        assert_same(f"{name} grad scale", st.grad, gs_ref.sum(axis=1, keepdims=True, dtype=np.float64))


# ---------------------------------------------------------------------------
# Tracing: opcheck (schema, fake, autograd registration), torch.compile, torch.export.


def op_samples():
    x = torch.randn(3, 5)
    s = torch.full((3, 1), 0.3)
    return [
        (torch.ops.bitsmith.int_quant.default, (x, s, torch.zeros(()), 4, True, False, "ROUND")),
        (torch.ops.bitsmith.float_quant.default, (x, s, 4, 3, 7, 448.0, True, False, True, "ROUND")),
        (torch.ops.bitsmith.bipolar_quant.default, (x, s)),
        (torch.ops.bitsmith.ternary_quant.default, (x, s, 0.3)),
        (torch.ops.bitsmith.int_quant_learned_bits.default, (x, s, torch.zeros(()), torch.tensor(4.2), True, False,
                                                             "FLOOR")),
    ]


@pytest.mark.parametrize("i", range(5))
def test_opcheck(i):
    op, args = op_samples()[i]
    args = tuple(a.requires_grad_() if isinstance(a, torch.Tensor) and a.dim() else a for a in args)
    if i == 4:
        args[3].requires_grad_()
    torch.library.opcheck(op, args)


def test_torch_compile_fullgraph():
    spec = IntQuant(4)

    def f(x, s, b):
        return (FQ.fake_quant(x * 2, spec, s) + FQ.fake_quant(x, FP8_E4M3, s)
                + FQ.fake_quant(x, IntQuant(3, learned_bits=True), s, bits=b))

    x = torch.randn(4, 8)
    s = torch.tensor(0.2)
    eager = [t.clone().requires_grad_() for t in (x, s, torch.tensor(3.3))]
    compiled = [t.clone().requires_grad_() for t in (x, s, torch.tensor(3.3))]
    ye = f(*eager)
    yc = torch.compile(f, fullgraph=True, backend="aot_eager")(*compiled)
    assert torch.equal(ye, yc)
    ye.sum().backward()
    yc.sum().backward()
    for a, b in zip(eager, compiled):
        assert torch.equal(a.grad, b.grad)


def test_torch_export():
    class M(torch.nn.Module):
        def forward(self, x):
            return FQ.fake_quant(x, IntQuant(4, signed=False), torch.tensor(0.1))

    ep = torch.export.export(M(), (torch.randn(2, 3),))
    assert any(n.target == torch.ops.bitsmith.int_quant.default for n in ep.graph.nodes)
    x = torch.randn(2, 3)
    assert torch.equal(ep.module()(x), M()(x))


def test_rejects_non_float32():
    with pytest.raises(TypeError, match="float32"):
        FQ.fake_quant(torch.randn(3, dtype=torch.float64), IntQuant(4), torch.tensor(0.1))
    with pytest.raises(ValueError, match="zero point"):
        FQ.fake_quant(torch.randn(3), IntQuant(4), torch.tensor(0.1), torch.tensor(1.0))
    with pytest.raises(ValueError, match="backend"):
        with FQ.backend("cuda"):
            pass


def test_import_bitsmith_does_not_import_torch():
    code = "import sys, bitsmith, bitsmith.quant; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# Spec validation: each invalid combination fails at construction and says what to change.

BAD_SPECS = [
    (IntQuant, dict(bits=0), "integer from 1 to 16"),
    (IntQuant, dict(bits=17), "integer from 1 to 16"),
    (IntQuant, dict(bits=4.0), "integer from 1 to 16"),
    (IntQuant, dict(bits=1, signed=True), "BipolarQuant"),
    (IntQuant, dict(bits=1, signed=False, narrow=True), "narrow=False"),
    (IntQuant, dict(granularity="per_row"), "per_tensor"),
    (IntQuant, dict(granularity="per_group"), "group_size"),
    (IntQuant, dict(group_size=32), "granularity='per_group'"),
    (IntQuant, dict(scale="log"), "'po2'"),
    (IntQuant, dict(scale_stats="max"), "minmax"),
    (IntQuant, dict(percentile=99.0), "scale_stats='percentile'"),
    (IntQuant, dict(scale_stats="percentile", percentile=0), "(0, 100]"),
    (IntQuant, dict(scale_stats="const"), "const_scale"),
    (IntQuant, dict(scale_stats="const", const_scale=-1.0), "finite positive"),
    (IntQuant, dict(const_scale=0.5), "scale_stats='const'"),
    (IntQuant, dict(scale_stats="const", const_scale=1e39), "float32"),
    (IntQuant, dict(scale="po2", scale_stats="const", const_scale=0.3), "0.25"),
    (IntQuant, dict(rounding="nearest"), "HALF_EVEN"),
    (IntQuant, dict(zero_point=True, scale_stats="const", const_scale=1.0), "zero_point=False"),
    (IntQuant, dict(bits=1, signed=False, learned_bits=True), "bits>=2"),
    (IntQuant, dict(signed=1), "True or False"),
    (MiniFloatQuant, dict(exp_bits=0, mant_bits=2), "1 to 8"),
    (MiniFloatQuant, dict(exp_bits=4, mant_bits=24), "0 to 23"),
    (MiniFloatQuant, dict(exp_bits=4, mant_bits=3, max_val=500.0), "480"),
    (MiniFloatQuant, dict(exp_bits=4, mant_bits=3, max_val=0.0), "finite positive"),
    (MiniFloatQuant, dict(exp_bits=4, mant_bits=3, has_subnormal=False), "has_subnormal=True"),
    (MiniFloatQuant, dict(exp_bits=4, mant_bits=3, saturating=False, has_nan=False), "has_inf=True"),
    (MiniFloatQuant, dict(exp_bits=8, mant_bits=3, bias=-5), "bias"),
    (MiniFloatQuant, dict(exp_bits=4, mant_bits=3, rounding="stochastic"), "rounding mode"),
    (TernaryQuant, dict(threshold=1.0), "(0, 1)"),
    (TernaryQuant, dict(threshold=0.0), "(0, 1)"),
    (BipolarQuant, dict(granularity="per_group", group_size=0), "positive integer"),
]


@pytest.mark.parametrize("cls,kwargs,hint", BAD_SPECS, ids=[f"{c.__name__}-{k}" for c, k, _ in BAD_SPECS])
def test_spec_errors(cls, kwargs, hint):
    with pytest.raises(SpecError, match=None) as info:
        cls(**kwargs)
    assert isinstance(info.value, ValueError)
    assert hint in str(info.value), str(info.value)
    assert str(info.value).startswith(cls.__name__ + ":")


def test_spec_defaults_and_presets():
    q = IntQuant(4)
    assert (q.bits, q.signed, q.narrow, q.rounding, q.int_range) == (4, True, False, "ROUND", (-8, 7))
    assert IntQuant(4, signed=False, narrow=True).int_range == (0, 14)
    assert IntQuant(rounding="half_up").rounding == "HALF_UP"
    assert [f.max_value for f in (FP8_E4M3, FP8_E5M2, FP6_E3M2, FP6_E2M3, FP4_E2M1)] == [448, 57344, 28, 7.5, 6]
    assert FP8_E4M3.format_max == 480 and FP8_E4M3.bias == 7 and FP8_E5M2.bias == 15
    assert FP8_E4M3.replace(scale_stats="minmax").scale_stats == "minmax"
    assert MiniFloatQuant(3, 2).bias == 3 and TernaryQuant(0.3).threshold == 0.3
    with pytest.raises(dataclasses_frozen_error()):
        q.bits = 5
    assert hash(IntQuant(4)) == hash(IntQuant(4)) and IntQuant(4) == IntQuant(4)


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


# ---------------------------------------------------------------------------
# Scales from statistics.


def test_compute_scale_minmax_per_tensor_channel_group():
    rng = np.random.default_rng(RNG_SEED)
    w = rng.normal(size=(6, 16)).astype(F32)
    wt = torch.tensor(w)
    s, z = FQ.compute_scale(wt, IntQuant(8))
    assert z is None and s.shape == () and s.item() == F32(np.abs(w).max()) / F32(127)
    s, _ = FQ.compute_scale(wt, IntQuant(4, signed=False))
    assert s.item() == F32(w.max()) / F32(15)
    s, _ = FQ.compute_scale(wt, IntQuant(4, granularity="per_channel"))
    assert s.shape == (6, 1) and same_bits(s.numpy(), np.abs(w).max(axis=1, keepdims=True) / F32(7))
    s, _ = FQ.compute_scale(wt.T.contiguous(), IntQuant(4, granularity="per_channel", channel_axis=1))
    assert s.shape == (1, 6)
    spec = IntQuant(4, granularity="per_group", group_size=8)
    s, _ = FQ.compute_scale(wt, spec)
    want = np.abs(w.reshape(6, 2, 8)).max(axis=2, keepdims=True) / F32(7)
    assert s.shape == (6, 2, 1) and same_bits(s.numpy(), want)
    y = FQ.fake_quant(wt, spec, s)
    per_elem = np.repeat(want, 8, axis=2).reshape(6, 16)
    assert same_bits(y.numpy(), ref_int(w, per_elem, np.zeros_like(w), w, spec.replace(
        granularity="per_tensor", group_size=None))[0])
    s, _ = FQ.compute_scale(wt, FP8_E4M3.replace(scale_stats="minmax"))
    assert s.item() == F32(np.abs(w).max()) / F32(448)
    s, _ = FQ.compute_scale(wt, IntQuant(4, scale_stats="const", const_scale=0.125))
    assert s.item() == 0.125 and FQ.compute_scale(wt, FP8_E4M3)[0].item() == 1.0


def test_compute_scale_percentile_po2_mse():
    x = torch.arange(1, 101, dtype=torch.float32) * torch.tensor([1.0, -1.0]).repeat(50)
    s, _ = FQ.compute_scale(x, IntQuant(8, scale_stats="percentile", percentile=90.0))
    assert s.item() == F32(90) / F32(127)  # nearest rank: the 90th of 100 magnitudes
    s, _ = FQ.compute_scale(x, IntQuant(8, scale="po2"))
    assert s.item() == 1.0  # 100/127 rounded up to a power of two
    s, _ = FQ.compute_scale(x, IntQuant(4, scale="po2", scale_stats="percentile", percentile=50.0))
    assert s.item() == 8.0  # 50/7 = 7.14 -> 8
    w = torch.tensor(np.random.default_rng(RNG_SEED).standard_t(3, size=(4, 256)).astype(F32))
    for spec in (IntQuant(3, granularity="per_channel"), IntQuant(4, signed=False, zero_point=True),
                 TernaryQuant(0.5, granularity="per_channel"), FP4_E2M1.replace(scale_stats="minmax")):
        err = {}
        for stats in ("minmax", "mse"):
            sp = spec.replace(scale_stats=stats)
            s, z = FQ.compute_scale(w, sp)
            err[stats] = float((FQ.fake_quant(w, sp, s, z) - w).pow(2).sum())
        assert err["mse"] <= err["minmax"], (spec, err)


def test_compute_scale_zero_point():
    x = torch.tensor([-1.0, 0.0, 0.5, 3.0])
    spec = IntQuant(8, signed=False, zero_point=True)
    s, z = FQ.compute_scale(x, spec)
    assert s.item() == F32(4) / F32(255) and z.item() == 64.0  # round(1 / (4/255)) = round(63.75)
    y = FQ.fake_quant(x, spec, s, z)
    assert y[1].item() == 0.0 and abs(y[0].item() + 1) <= s.item() / 2 and abs(y[3].item() - 3) <= s.item() / 2
    s, z = FQ.compute_scale(torch.tensor([1.0, 2.0]), spec)  # the range always keeps 0
    assert z.item() == 0.0 and s.item() == F32(2) / F32(255)
    s, z = FQ.compute_scale(torch.zeros(5), IntQuant(4))
    assert s.item() == 1.0


def test_compute_scale_errors():
    with pytest.raises(ValueError, match="NaN or inf"):
        FQ.compute_scale(torch.tensor([1.0, float("nan")]), IntQuant(4))
    with pytest.raises(ValueError, match="multiple of group_size"):
        FQ.compute_scale(torch.randn(3, 10), IntQuant(4, granularity="per_group", group_size=4))


# ---------------------------------------------------------------------------
# Learned bit width.


@pytest.mark.parametrize("b,used", [(3.4, 3), (2.5, 2), (3.5, 4), (1.2, 2), (20.0, 16)])
@pytest.mark.parametrize("signed", [True, False])
def test_learned_bits_forward_and_gradients(b, used, signed):
    spec = IntQuant(4, signed=signed, learned_bits=True, rounding="HALF_UP")
    fixed = spec.replace(bits=used, learned_bits=False)
    x, s = int_inputs(fixed, np.random.default_rng(RNG_SEED))
    g = np.random.default_rng(RNG_SEED).uniform(0.5, 2.0, size=x.shape).astype(F32)
    want = ref_int(x, s, np.zeros_like(x), g, fixed)
    for name in ("core", "torch"):
        xt, st = torch.tensor(x, requires_grad=True), torch.tensor(s, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        with FQ.backend(name):
            y = FQ.fake_quant(xt, spec, st, bits=bt)
        y.backward(torch.tensor(g))
        for what, got, w in zip(("y", "grad x", "grad scale"), (y, xt.grad, st.grad), want):
            assert_same(f"{name} {what}", got, w)


@pytest.mark.parametrize("signed,level,sign", [(True, 9.0, 1), (True, -9.0, -1), (False, 17.0, 1), (False, -3.0, 0)])
def test_learned_bits_gradient_reaches_the_clamp_bounds(signed, level, sign):
    # One clamped element, the rest inside: the bit-width gradient is that element's
    # d(bound)/db * s, a single float32 product (ln 2 * 2^(b-1) signed, ln 2 * 2^b unsigned).
    s = F32(0.25)
    x = np.array([level, 0.5, 1.0, 2.0], F32) * s
    bt = torch.tensor(4.0, requires_grad=True)
    y = FQ.fake_quant(torch.tensor(x), IntQuant(4, signed=signed, learned_bits=True), torch.tensor(s), bits=bt)
    y.sum().backward()
    p = F32(2.0 ** (4 - 1 if signed else 4))
    assert bt.grad.item() == sign * (s * (F32(math.log(2.0)) * p))


def test_learned_bits_misuse():
    with pytest.raises(ValueError, match="learned_bits=False"):
        FQ.fake_quant(torch.randn(3), IntQuant(4), torch.tensor(0.1), bits=torch.tensor(4.0))
    with pytest.raises(ValueError, match="one finite number"):
        FQ.fake_quant(torch.randn(3), IntQuant(4, learned_bits=True), torch.tensor(0.1), bits=torch.ones(2))
