"""Property tests of the one home of rounding (src/core/quantize) through bitsmith._core:
every rounding mode and integer range for bit widths 1..32, ties, huge values, NaN and
+-inf, against references written here (fraction_ref: Fractions for the exact meaning,
numpy for the float meaning)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from fraction_ref import MODES, int_range, np_round, round_fraction, same, to_float32

bitsmith = pytest.importorskip("bitsmith", reason="bitsmith is not built/installed in this venv")
core = pytest.importorskip("bitsmith._core", reason="bitsmith._core extension is not built")

# Deterministic in CI; each example is one vectorized call, so examples are cheap.
PROPS = settings(max_examples=150, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

modes = st.sampled_from(MODES)
bit_widths = st.integers(1, 32)

# Doubles chosen to hit every hazard: ties k+0.5, values one ulp either side of a tie,
# integers, huge magnitudes (every double >= 2^52 is an integer), subnormals, NaN, inf.
SPECIAL_DOUBLES = [5e-324, -5e-324, -1e-300, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994,
                   -0.49999999999999994, np.nextafter(0.5, 1.0), 2.0**52 + 1, -(2.0**52) - 1,
                   2.0**52 - 0.5, 4503599627370495.5, 1e300, -1e300, 2.0**63, 2.0**64 + 4096,
                   1.7976931348623157e308, np.inf, -np.inf, np.nan]
TINY_DOUBLES = [5e-324, -5e-324, 1e-300, -1e-300, -1e-40, -(2.0**-127), 2.0**-127, -(2.0**-1000)]



doubles = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(-(2**20), 2**20).map(lambda k: k + 0.5),
    st.integers(-(2**20), 2**20).map(lambda k: float(np.nextafter(k + 0.5, np.inf))),
    st.integers(-(2**20), 2**20).map(lambda k: float(np.nextafter(k + 0.5, -np.inf))),
    st.sampled_from(SPECIAL_DOUBLES),
)
float32s = st.one_of(
    st.floats(width=32, allow_nan=True, allow_infinity=True),
    st.floats(width=32, min_value=-1e4, max_value=1e4),
    st.integers(-(2**12), 2**12).map(lambda k: k + 0.5),
    st.integers(-(2**12), 2**12).map(lambda k: float(np.nextafter(np.float32(k + 0.5), np.float32(np.inf)))),
    st.sampled_from([0.49999997, -0.49999997, 8388607.5, -8388607.5, 8388609.0, 3.4028235e38,
                     -3.4028235e38, 1e-45, -1e-45, np.inf, -np.inf, np.nan]),
)


def exact_round_ref(x: np.ndarray, mode: str) -> np.ndarray:
    out = np.empty_like(x)
    for i, v in enumerate(x):
        if not np.isfinite(v):
            out[i] = v  # NaN stays NaN, inf stays inf
        else:
            out[i] = float(round_fraction(Fraction(float(v)), mode))  # an integer double: exact
    return out


# ---------------------------------------------------------------- round / round_float32


@PROPS
@given(st.lists(doubles, min_size=1, max_size=64), modes)
@example(SPECIAL_DOUBLES, "ROUND")
@example(SPECIAL_DOUBLES, "HALF_UP")
@example(SPECIAL_DOUBLES, "HALF_DOWN")
@example(SPECIAL_DOUBLES, "UP")
def test_round_exact_matches_fraction(xs, mode):
    x = np.array(xs, dtype=np.float64)
    got = core.round(x, mode, exact=True)
    assert got.dtype == np.float64
    want = exact_round_ref(x, mode)
    assert same(got, want), (x[~((got == want) | np.isnan(got) & np.isnan(want))], mode)


@PROPS
@given(st.lists(doubles, min_size=1, max_size=64), modes)
@example(SPECIAL_DOUBLES, "HALF_UP")
@example(SPECIAL_DOUBLES, "HALF_DOWN")
def test_round_float_matches_numpy(xs, mode):
    x = np.array(xs, dtype=np.float64)
    got = core.round(x, mode, exact=False)
    want = np_round(x, mode)
    assert same(got, want), (x, got, want, mode)


@PROPS
@given(st.lists(float32s, min_size=1, max_size=64), modes)
@example([0.49999997, -0.49999997, 2.5, -2.5, np.nan, np.inf], "HALF_UP")
def test_round_float32_matches_numpy(xs, mode):
    x = np.array(xs, dtype=np.float32)
    got = core.round_float32(x, mode)
    assert got.dtype == np.float32
    assert same(got, np_round(x, mode)), (x, got, mode)


@pytest.mark.parametrize("mode", MODES)
def test_tiny_values_round_exact(mode):
    # Subnormal and tiny doubles: e.g. -1e-40 floors to -1 and rounds to 0.
    x = np.array(TINY_DOUBLES)
    assert same(core.round(x, mode, exact=True), exact_round_ref(x, mode))


@pytest.mark.parametrize("mode", MODES)
def test_tiny_values_int_quant_exact(mode):
    # A float32 subnormal input (or x/s below 2^-126) must quantize, not overflow.
    x = np.array([1e-45, -1e-45, -1e-39, 2.0**-127, -(2.0**-127), -1e-30], dtype=np.float32)
    s = np.float32(1.0)
    z = np.float32(0.0)
    got = call_quant(core.int_quant, x, s, z, 8, True, False, mode, exact=True)
    want = [exact_int_quant(v, s, z, 8, True, False, mode) for v in x]
    assert same(got, want)
    lv = call_quant(core.int_quant_level, x, s, z, 8, True, False, mode)
    assert lv.tolist() == [exact_int_quant_level(v, s, z, 8, True, False, mode) for v in x]


@pytest.mark.parametrize("mode", ["ROUND", "FLOOR", "UP"])
def test_zero_point_far_from_x_over_s(mode):
    # x/s + z where the two terms are far apart in magnitude (huge x clamps, tiny x
    # rounds as if zero): the true sum has no short binary form, but the answer is plain.
    x = np.array([3.4028235e38, -3.4028235e38, 1e30, 1.2821827e-34, -1e-30, 1e-45], dtype=np.float32)
    s = np.float32(1.0)
    for z in (np.float32(1.0), np.float32(0.5), np.float32(3.0)):
        got = call_quant(core.int_quant, x, s, z, 4, False, False, mode, exact=True)
        want = [exact_int_quant(v, s, z, 4, False, False, mode) for v in x]
        assert same(got, want), (z, got, want)
        lv = call_quant(core.int_quant_level, x, s, z, 4, False, False, mode)
        assert lv.tolist() == [exact_int_quant_level(v, s, z, 4, False, False, mode) for v in x]


@pytest.mark.parametrize("mode", ["ROUND", "FLOOR"])
def test_tiny_zero_point_next_to_level(mode):
    # (q - z) * s with z = 4.6e-24 next to q = 31: the float32 answer is plain 31 * s.
    # The exact product needs more than 127 bits (Exact's big form holds it).
    x = np.array([np.inf, 3.0, 1e-5], dtype=np.float32)
    s = np.float32(1e-6)
    z = np.float32(4.635159e-24)
    got = call_quant(core.int_quant, x, s, z, 5, False, False, mode, exact=True)
    assert same(got, [exact_int_quant(v, s, z, 5, False, False, mode) for v in x])


def test_half_up_float_meaning_differs_from_exact_meaning():
    # SEMANTICS.md: the reference adds 0.5 in float32, so 0.49999997 rounds to 1 there.
    x = np.array([0.49999997], dtype=np.float32)
    assert core.round_float32(x, "HALF_UP")[0] == 1.0
    assert core.round(x.astype(np.float64), "HALF_UP", exact=True)[0] == 0.0


@pytest.mark.parametrize("mode", ["round", "Half_Even", "half_up", "Floor", "ceil", "up", "down", "half_down"])
def test_mode_names_are_case_insensitive(mode):
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -0.7])
    assert same(core.round(x, mode), core.round(x, mode.upper()))


@pytest.mark.parametrize("mode", ["NEAREST", "", "ROUND_TO_ZERO", "half-up"])
def test_unknown_mode_is_an_error_naming_it(mode):
    with pytest.raises(bitsmith.Error) as info:
        core.round(np.array([0.5]), mode)
    assert mode in str(info.value)


def test_known_table():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.7, 0.7])
    table = {
        "ROUND": [-2, -2, -0, 0, 2, 2, -1, 1],
        "HALF_UP": [-3, -2, -1, 1, 2, 3, -1, 1],
        "HALF_DOWN": [-2, -1, -0, 0, 1, 2, -1, 1],
        "CEIL": [-2, -1, -0, 1, 2, 3, -0, 1],
        "FLOOR": [-3, -2, -1, 0, 1, 2, -1, 0],
        "UP": [-3, -2, -1, 1, 2, 3, -1, 1],
        "DOWN": [-2, -1, -0, 0, 1, 2, -0, 0],
    }
    for mode, want in table.items():
        assert list(core.round(x, mode)) == want, mode
        assert list(core.round(x, mode, exact=False)) == want, mode


# ---------------------------------------------------------------- int_range


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("narrow", [False, True])
def test_int_range_all_widths(signed, narrow):
    for bits in range(1, 33):
        assert tuple(core.int_range(bits, signed, narrow)) == int_range(bits, signed, narrow), bits


@pytest.mark.parametrize("bits", [0, 64, 100])
def test_int_range_rejects_bad_widths(bits):
    with pytest.raises(bitsmith.Error):
        core.int_range(bits, True, False)


# ---------------------------------------------------------------- int_quant / int_quant_level


@st.composite
def quant_case(draw):
    bits = draw(bit_widths)
    signed = draw(st.booleans())
    narrow = draw(st.booleans())
    mode = draw(modes)
    lo, hi = int_range(bits, signed, narrow)
    pot = draw(st.booleans())
    if pot:  # power-of-two scale: x/s is exact in float32 unless it overflows
        scale = np.float32(2.0 ** draw(st.integers(-20, 10)))
    else:
        scale = np.float32(draw(st.floats(float(np.float32(1e-6)), 1e3, width=32)))
    zp_kind = draw(st.sampled_from(["zero", "int", "frac"]))
    if zp_kind == "zero":
        zp = np.float32(0)
    elif zp_kind == "int":
        zp = np.float32(draw(st.integers(max(lo, -(2**20)), min(hi, 2**20))))
    else:  # SEMANTICS: the zero point need not be an integer
        zp = np.float32(draw(st.floats(-100, 100, width=32)))
        if 0 < abs(zp) < 2.0**-20:  # a tiny zero point next to q: see test_zero_point_far_from_x_over_s
            zp = np.float32(0)
    n = draw(st.integers(1, 40))
    xs = []
    for _ in range(n):
        kind = draw(st.sampled_from(["in", "tie", "tie_ulp", "wide", "any", "special"]))
        if kind == "in":  # inside the range
            xs.append(draw(st.floats(float(lo) - 2, float(hi) + 2)) * float(scale))
        elif kind in ("tie", "tie_ulp"):  # x/s + z lands on (or next to) k + 0.5
            k = draw(st.integers(max(lo - 2, -(2**22)), min(hi + 1, 2**22)))
            v = np.float32((k + 0.5 - float(zp)) * float(scale))
            if kind == "tie_ulp":
                v = np.nextafter(v, np.float32(draw(st.sampled_from([np.inf, -np.inf]))))
            xs.append(float(v))
        elif kind == "wide":
            xs.append(draw(st.floats(-1e9, 1e9, width=32)))
        elif kind == "any":
            xs.append(draw(st.floats(width=32, allow_nan=True, allow_infinity=True)))
        else:
            xs.append(draw(st.sampled_from([np.nan, np.inf, -np.inf, 3.4028235e38, -3.4028235e38, 0.0, -0.0])))
    x = np.array(xs, dtype=np.float32)
    return x, scale, zp, bits, signed, narrow, mode


def exact_int_quant_level(x, s, z, bits, signed, narrow, mode):
    """SEMANTICS.md Quant in exact meaning, on Fractions; x may be +-inf (clamps)."""
    lo, hi = int_range(bits, signed, narrow)
    if np.isinf(x):
        t_nonneg = x > 0
        if bits == 1 and signed:
            return 1 if t_nonneg else -1
        return hi if x > 0 else lo
    t = Fraction(float(x)) / Fraction(float(s)) + Fraction(float(z))
    if bits == 1 and signed:
        return 1 if t >= 0 else -1
    t = min(max(t, lo), hi)
    return round_fraction(t, mode)


def exact_int_quant(x, s, z, bits, signed, narrow, mode):
    if np.isnan(x):
        return np.float32(np.nan)
    q = exact_int_quant_level(x, s, z, bits, signed, narrow, mode)
    return to_float32((q - Fraction(float(z))) * Fraction(float(s)))


def float_int_quant(x, s, z, bits, signed, narrow, mode):
    """The qonnx reference's float32 numpy arithmetic, step for step (SEMANTICS.md)."""
    with np.errstate(all="ignore"):
        t = x / s
        t = t + z
        if bits == 1 and signed:
            t = np.where(t >= 0, np.float32(1), np.float32(-1)).astype(np.float32)
        else:
            lo, hi = int_range(bits, signed, narrow)
            t = np.where(t > np.float32(hi), np.float32(hi), t)
            t = np.where(t < np.float32(lo), np.float32(lo), t)
            t = np_round(t, mode)
        return (t - z) * s


def call_quant(fn, x, s, z, bits, signed, narrow, mode, **kw):
    return fn(x, np.array([s], dtype=np.float32), np.array([z], dtype=np.float32), bits, signed, narrow,
              mode, **kw)


@PROPS
@given(quant_case())
def test_int_quant_exact_matches_fraction(case):
    x, s, z, bits, signed, narrow, mode = case
    got = call_quant(core.int_quant, x, s, z, bits, signed, narrow, mode, exact=True)
    assert got.dtype == np.float32 and got.shape == x.shape
    want = np.array([exact_int_quant(v, s, z, bits, signed, narrow, mode) for v in x], dtype=np.float32)
    bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    assert not bad.any(), dict(x=x[bad], got=got[bad], want=want[bad], s=s, z=z, bits=bits, signed=signed,
                               narrow=narrow, mode=mode)


@PROPS
@given(quant_case())
def test_int_quant_float_matches_qonnx_arithmetic(case):
    x, s, z, bits, signed, narrow, mode = case
    got = call_quant(core.int_quant, x, s, z, bits, signed, narrow, mode, exact=False)
    want = float_int_quant(x, s, z, bits, signed, narrow, mode)
    bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    assert not bad.any(), dict(x=x[bad], got=got[bad], want=want[bad], s=s, z=z, bits=bits, signed=signed,
                               narrow=narrow, mode=mode)


@PROPS
@given(quant_case())
def test_int_quant_level_matches_fraction_and_stays_in_range(case):
    x, s, z, bits, signed, narrow, mode = case
    x = x[~np.isnan(x)]  # a NaN has no integer level
    assume(x.size > 0)
    got = call_quant(core.int_quant_level, x, s, z, bits, signed, narrow, mode)
    assert got.dtype == np.int64
    want = [exact_int_quant_level(v, s, z, bits, signed, narrow, mode) for v in x]
    assert got.tolist() == want, dict(x=x, s=s, z=z, bits=bits, signed=signed, narrow=narrow, mode=mode)
    lo, hi = int_range(bits, signed, narrow)
    if not (bits == 1 and signed):
        assert all(lo <= q <= hi for q in want)


@PROPS
@given(quant_case())
def test_float_and_exact_meaning_agree_away_from_boundaries(case):
    # For power-of-two scales and integer zero points x/s + z is exact in float32 (bar
    # overflow/underflow, excluded here), so float and exact meaning must agree.
    x, s, z, bits, signed, narrow, mode = case
    assume(float(s) == 2.0 ** np.round(np.log2(float(s))) and float(z) == np.round(float(z)))
    assume(mode != "HALF_UP" and mode != "HALF_DOWN")  # their float formula adds 0.5 in float32
    def exact_in_float32(v):
        # x/s and then + z must both be exact in float32 (checked on Fractions) and small.
        if not np.isfinite(v):
            return False
        d = Fraction(float(v)) / Fraction(float(s))
        t = d + Fraction(float(z))
        return (abs(t) < 2**23 and Fraction(float(np.float32(float(d)))) == d
                and Fraction(float(np.float32(float(t)))) == t)

    keep = np.array([exact_in_float32(v) for v in x], dtype=bool)
    x = x[keep]
    assume(x.size > 0)
    a = call_quant(core.int_quant, x, s, z, bits, signed, narrow, mode, exact=True)
    b = call_quant(core.int_quant, x, s, z, bits, signed, narrow, mode, exact=False)
    assert same(a, b)


def test_int_quant_broadcasts_per_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 2)).astype(np.float32) * 4
    s = np.array([0.5, 0.1, 3.0], dtype=np.float32).reshape(3, 1, 1)
    z = np.array([0, 1, -2, 3], dtype=np.float32).reshape(1, 4, 1)
    for fn_exact in (True, False):
        got = core.int_quant(x, s, z, 4, True, False, "ROUND", exact=fn_exact)
        assert got.shape == x.shape
    got = core.int_quant(x, s, z, 4, True, False, "ROUND", exact=True)
    want = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        want[idx] = exact_int_quant(x[idx], s[idx[0], 0, 0], z[0, idx[1], 0], 4, True, False, "ROUND")
    assert same(got, want)
    lv = core.int_quant_level(x, s, z, 4, True, False, "ROUND")
    assert lv.shape == x.shape


def test_one_bit_signed_is_bipolar():
    x = np.array([-3, -0.1, -0.0, 0.0, 0.1, 7, np.inf, -np.inf], dtype=np.float32)
    one = np.array([1], dtype=np.float32)
    zero = np.array([0], dtype=np.float32)
    lv = core.int_quant_level(x, one, zero, 1, True, False, "ROUND")
    assert lv.tolist() == [-1, -1, 1, 1, 1, 1, 1, -1]
    for exact in (True, False):
        assert core.int_quant(x, one, zero, 1, True, False, "FLOOR", exact=exact).tolist() == lv.tolist()


def test_nan_stays_nan_and_inf_clamps():
    x = np.array([np.nan, np.inf, -np.inf], dtype=np.float32)
    s = np.array([0.25], dtype=np.float32)
    z = np.array([0], dtype=np.float32)
    for exact in (True, False):
        y = core.int_quant(x, s, z, 8, True, False, "ROUND", exact=exact)
        assert np.isnan(y[0]) and y[1] == 127 * 0.25 and y[2] == -128 * 0.25
