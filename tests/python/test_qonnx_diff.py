"""Differential tests: bitsmith against qonnx's reference executor (float mode) and
against an independent Fraction interpreter (exact mode).

Models: the Brevitas zoo (zoo.py), the .onnx files shipped inside the qonnx package, and
the real models in ../shared/models. Every model is cleaned with
qonnx.util.cleanup.cleanup_model and saved; both engines run that same file, so value
names match. bitsmith also loads the raw export and must give the same outputs.

Float mode: every value must be identical (==, NaN equal to NaN) except where float_proof
proves a float32 rounding-boundary case (see float_proof.py for the bound used); the
boundary cases are counted and printed (pytest -s). Exact mode: every output and every
intermediate value must equal the Fraction oracle (exact_oracle.py) rounded once to
float32, nearest-even, with ==. Hand-made graphs put inputs exactly on the ties of every
rounding mode.
"""

import os
from pathlib import Path

import numpy as np
import pytest

import zoo
from float_proof import QUANT_OPS, FloatProof
from fraction_ref import same, to_float32_array

bitsmith = pytest.importorskip("bitsmith", reason="bitsmith is not built/installed in this venv")
pytest.importorskip("bitsmith._core", reason="bitsmith._core extension is not built")
qonnx = pytest.importorskip("qonnx")
pytest.importorskip("torch")
pytest.importorskip("brevitas")

from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.util.cleanup import cleanup_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SHARED_MODELS = REPO.parent / "shared" / "models"
QONNX_DATA = Path(qonnx.__file__).resolve().parent / "data" / "onnx"
SHIPPED = sorted(QONNX_DATA.rglob("*.onnx")) if QONNX_DATA.is_dir() else []
REAL = sorted(SHARED_MODELS.glob("*.onnx")) if SHARED_MODELS.is_dir() else []

# Zoo models the Fraction oracle covers in exact mode (BatchNorm's sqrt has no exact value
# and its double evaluation is not specified closely enough to reproduce independently).
ORACLE_ZOO = [m.name for m in zoo.ZOO if m.name != "batchnorm"]
N_SAMPLES = 3
BOUNDARY_STATS = {}


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="session")
def clean_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("clean")


_CLEAN = {}


def cleaned(raw_path, clean_dir):
    """cleanup_model(raw) saved next to the session's other files (cached)."""
    raw_path = str(raw_path)
    if raw_path not in _CLEAN:
        mw = cleanup_model(ModelWrapper(raw_path))
        out = os.path.join(str(clean_dir), f"{len(_CLEAN)}_{Path(raw_path).name}")
        mw.save(out)
        _CLEAN[raw_path] = (out, mw)
    return _CLEAN[raw_path]


def model_inputs(mw, n, seed, spec=None):
    """Feeds for the cleaned model, as a list of {input name: array}: the zoo's own
    inputs, else seeded noise by shape (valid integers where the input is annotated with
    an integer type, pixels in [0, 1] for MNIST-shaped inputs)."""
    inits = {i.name for i in mw.graph.initializer}
    real_in = [i for i in mw.graph.input if i.name not in inits]
    if spec is not None:
        assert len(real_in) == 1
        return [{real_in[0].name: x} for x in spec.inputs(n, seed)]
    rng = np.random.default_rng(seed)
    shapes = {i.name: tuple(d.dim_value or 1 for d in i.type.tensor_type.shape.dim) for i in real_in}
    big = sum(int(np.prod(v)) for v in shapes.values()) > 20000
    feeds = []
    for _ in range(1 if big else n):
        feed = {}
        for name, shape in shapes.items():
            dt = mw.get_tensor_datatype(name)
            if dt is not None and dt.is_integer():
                feed[name] = rng.integers(int(dt.min()), int(dt.max()) + 1, shape).astype(np.float32)
            elif shape == (1, 1, 28, 28):
                feed[name] = rng.uniform(0, 1, shape).astype(np.float32)
            else:
                feed[name] = rng.standard_normal(shape).astype(np.float32)
        feeds.append(feed)
    return feeds


def by_position(model, feed):
    """The same feed keyed by `model`'s own input names (the raw file names them differently)."""
    return {info.name: x for info, x in zip(model.inputs, feed.values())}


def load_or_skip(path, strict):
    try:
        return bitsmith.load(str(path))
    except bitsmith.UnsupportedError as e:
        if strict:
            raise
        pytest.skip(f"bitsmith does not support this model yet: {e}")


def check_float(raw_path, clean_dir, label, spec=None, strict=True):
    clean_path, mw = cleaned(raw_path, clean_dir)
    m_clean = load_or_skip(clean_path, strict)
    feeds = model_inputs(mw, N_SAMPLES, seed=5, spec=spec)
    # The raw export must give the same outputs (skipped for the big shipped models, for time).
    m_raw = load_or_skip(raw_path, strict) if sum(v.size for v in feeds[0].values()) <= 20000 else None
    out_names = [o.name for o in mw.graph.output]
    stats = BOUNDARY_STATS.setdefault(label, [0, 0, 0])
    for k, feed in enumerate(feeds):
        ref = execute_onnx(mw, feed, return_full_exec_context=True)
        got = m_clean.run(feed, mode="float", intermediates=True)
        if m_raw is not None:
            raw = m_raw.run(by_position(m_raw, feed), mode="float")
            for o_info, name in zip(m_raw.outputs, out_names):
                assert same(raw[o_info.name], got[name]), f"{label}: raw and cleaned file disagree on output {name}"
        proof = FloatProof(mw.model, ref, got, f"{label} sample {k}").run()
        stats[0] += proof.boundary_cases
        stats[1] += proof.consequences
        stats[2] += proof.inexact_diffs
        for name in out_names:
            if name not in proof.tainted and proof.D.get(name) is None:
                assert same(ref[name], got[name]), f"{label}: output {name} differs"
        if m_raw is not None and k == 0:
            # Exact mode must run on every model (same shapes). A float model's sums of
            # products of arbitrary float32s need far more than 127 bits; Exact holds them
            # in big integers, so such a model must equal the Fraction oracle exactly.
            quantized = any(n.op_type in QUANT_OPS for n in mw.graph.node)
            ex = m_clean.run(feed, mode="exact")
            if not quantized:
                exact_outputs_match(mw.model, m_clean, feed, f"{label} exact")
            for name in out_names:
                assert np.asarray(ex[name]).shape == np.asarray(ref[name]).shape, f"{label}: exact shape of {name}"
    return stats


# ---------------------------------------------------------------- float mode


@pytest.mark.parametrize("name", [m.name for m in zoo.ZOO])
def test_zoo_float_matches_qonnx(name, zoo_dir, clean_dir, record_property):
    path = zoo.exported(name, zoo_dir)
    stats = check_float(path, clean_dir, f"zoo:{name}", spec=zoo.BY_NAME[name], strict=True)
    record_property("boundary_cases", stats[0])
    record_property("consequences", stats[1])
    print(f"{name}: {stats[0]} boundary cases, {stats[1]} consequences, {stats[2]} accumulation-order diffs")


@pytest.mark.skipif(not SHIPPED, reason=f"no .onnx files ship inside the installed qonnx package ({QONNX_DATA})")
@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(QONNX_DATA)) for p in SHIPPED])
def test_qonnx_shipped_float_matches_qonnx(path, clean_dir):
    stats = check_float(path, clean_dir, f"qonnx:{path.name}", strict=False)
    print(f"{path.name}: {stats[0]} boundary cases, {stats[1]} consequences, {stats[2]} accumulation-order diffs")


@pytest.mark.skipif(not REAL, reason=f"real models folder {SHARED_MODELS} is absent (a user's clone has no ../shared)")
@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_float_matches_qonnx(path, clean_dir):
    stats = check_float(path, clean_dir, f"real:{path.name}", strict=True)
    print(f"{path.name}: {stats[0]} boundary cases, {stats[1]} consequences, {stats[2]} accumulation-order diffs")


# ---------------------------------------------------------------- exact mode


def exact_outputs_match(model_proto, m, feed, label):
    """Every graph output, and every intermediate value bitsmith reports, must equal the
    Fraction oracle rounded once to float32 (nearest, ties to even)."""
    from exact_oracle import SoftmaxDouble, run_exact

    env = run_exact(model_proto, feed)
    got = m.run(feed, mode="exact")
    inter = m.run(feed, mode="exact", intermediates=True)
    outputs = [o.name for o in model_proto.graph.output]
    checked = 0
    for node in model_proto.graph.node:
        for v in node.output:
            want = env.get(v)
            if v in outputs:
                g_out = np.asarray(got[v])
            elif v in inter:
                g_out = np.asarray(inter[v])
            else:
                continue
            if isinstance(want, SoftmaxDouble):
                check_softmax(np.asarray(want), g_out, label)
                continue
            want32 = to_float32_array(want, want.shape)
            assert g_out.shape == want32.shape, f"{label}: shape of {v}: {g_out.shape} vs oracle {want32.shape}"
            bad = ~((g_out == want32) | (np.isnan(g_out) & np.isnan(want32)))
            if bad.any():
                i = tuple(np.argwhere(bad)[0])
                raise AssertionError(f"{label}: exact value '{v}' of node '{node.name}' ({node.op_type}) differs "
                                     f"from the Fraction oracle at {int(bad.sum())} elements, first {i}: "
                                     f"bitsmith {g_out[i]!r}, oracle {want32[i]!r} (exact {want[i]})")
            checked += 1
    assert all(o in got for o in outputs), f"{label}: missing outputs"
    return checked


def check_softmax(want64, got32, label):
    """Softmax has no exact value: bitsmith and the oracle both evaluate it in double.
    Two double evaluations of n-term softmax agree to (2n + 16) * 2^-53 relative, so their
    float32 roundings may differ only where the double lies that close to a float32
    rounding midpoint."""
    want32 = want64.astype(np.float32)
    n = want64.shape[-1]
    for i in np.argwhere(want32 != got32):
        i = tuple(i)
        lo, hi = sorted([float(want32[i]), float(got32[i])])
        mid = (lo + hi) / 2
        assert np.nextafter(np.float32(lo), np.float32(np.inf)) == np.float32(hi), (label, i, want64[i], got32[i])
        assert abs(want64[i] - mid) <= (2 * n + 16) * 2.0**-53 * abs(want64[i]), (label, i, want64[i], got32[i])


@pytest.mark.parametrize("name", ORACLE_ZOO)
def test_zoo_exact_matches_fraction_oracle(name, zoo_dir, clean_dir):
    path = zoo.exported(name, zoo_dir)
    clean_path, mw = cleaned(path, clean_dir)
    m = bitsmith.load(clean_path)
    for k, feed in enumerate(model_inputs(mw, 2, seed=11, spec=zoo.BY_NAME[name])):
        exact_outputs_match(mw.model, m, feed, f"zoo:{name} sample {k}")


@pytest.mark.skipif(not (SHARED_MODELS / "jettagging_qkeras_6b.onnx").exists(),
                    reason=f"real models folder {SHARED_MODELS} is absent (a user's clone has no ../shared)")
def test_jet_tagger_exact_matches_fraction_oracle(clean_dir):
    path = SHARED_MODELS / "jettagging_qkeras_6b.onnx"
    clean_path, mw = cleaned(path, clean_dir)
    m = bitsmith.load(clean_path)
    for k, feed in enumerate(model_inputs(mw, 3, seed=21)):
        exact_outputs_match(mw.model, m, feed, f"jet tagger sample {k}")


def test_exact_equals_float_for_power_of_two_scales(zoo_dir):
    """SEMANTICS.md: with power-of-two scales and accumulators under 2^24, float and exact
    meanings are identical."""
    m = bitsmith.load(zoo.exported("conv_power_of_two", zoo_dir))
    for x in zoo.BY_NAME["conv_power_of_two"].inputs(3, seed=3):
        a = m.run({m.inputs[0].name: x}, mode="exact")
        b = m.run({m.inputs[0].name: x}, mode="float")
        for k in a:
            assert same(a[k], b[k]), k


def test_brevitas_round_to_zero_is_rejected_naming_the_mode(tmp_path):
    """Brevitas writes its ROUND_TO_ZERO as rounding_mode="ROUND_TO_ZERO", which is no
    QONNX mode (qonnx itself raises); bitsmith must refuse it with a message naming it."""
    spec = zoo.ZooModel("round_to_zero", zoo.rounding("ROUND_TO_ZERO"), zoo.IMG)
    path = zoo.export(spec, str(tmp_path / "rtz.onnx"))
    with pytest.raises(bitsmith.Error, match="ROUND_TO_ZERO"):
        m = bitsmith.load(path)
        for mode in ("exact", "float"):
            m.run({m.inputs[0].name: spec.inputs(1, 0)[0]}, mode=mode)


def _all_modes_model(bits, signed, narrow, scale, zero_point):
    """One Quant per rounding mode on the same input, each its own output."""
    from onnx import TensorProto, helper, numpy_helper

    from fraction_ref import MODES

    nodes, outs = [], []
    for mode in MODES:
        nodes.append(helper.make_node("Quant", ["x", "s", "z", "b"], [f"y_{mode}"], name=f"q_{mode}",
                                      domain="qonnx.custom_op.general", signed=int(signed), narrow=int(narrow),
                                      rounding_mode=mode))
        outs.append(helper.make_tensor_value_info(f"y_{mode}", TensorProto.FLOAT, [64]))
    inits = [numpy_helper.from_array(np.array(v, np.float32), n)
             for n, v in (("s", scale), ("z", zero_point), ("b", bits))]
    g = helper.make_graph(nodes, "modes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])], outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 2)])
    return m


@pytest.mark.parametrize("bits,signed,narrow", [(2, True, False), (3, False, True), (4, True, True), (5, False, False),
                                                (8, True, False), (16, False, False), (20, True, False)])
@pytest.mark.parametrize("zero_point", [0.0, 3.0, 0.5])
def test_every_rounding_mode_on_exact_ties(bits, signed, narrow, zero_point, tmp_path):
    """Inputs on exact ties (and integers) of x/s + z with a power-of-two scale: float32 is
    exact here, so exact mode, float mode, qonnx and the Fraction oracle all agree bit for
    bit, for every mode, including the clamp at both ends of the range."""
    from exact_oracle import run_exact

    scale = 0.25
    lo, hi = int(core_range(bits, signed, narrow)[0]), int(core_range(bits, signed, narrow)[1])
    ks = np.linspace(lo - 3, hi + 3, 32).round()
    t = np.concatenate([ks + 0.5, ks])  # ties and integers of x/s + z
    x = ((t - zero_point) * scale).astype(np.float32)
    assert np.all((x.astype(np.float64) / scale + zero_point) == t)  # exactly on them
    proto = _all_modes_model(bits, signed, narrow, scale, zero_point)
    path = str(tmp_path / "modes.onnx")
    onnx_save(proto, path)
    m = bitsmith.load(path)
    ex = m.run({"x": x}, mode="exact")
    fl = m.run({"x": x}, mode="float")
    ref = execute_onnx(ModelWrapper(proto), {"x": x})
    env = run_exact(proto, {"x": x})
    for name in ref:
        want = to_float32_array(env[name], env[name].shape)
        assert same(ex[name], want), (name, x[~((ex[name] == want))], ex[name][ex[name] != want])
        assert same(fl[name], ref[name]), (name, x[fl[name] != ref[name]])
        if "HALF_UP" not in name and "HALF_DOWN" not in name:
            assert same(fl[name], want), name  # float meaning equals exact meaning here


def core_range(bits, signed, narrow):
    from fraction_ref import int_range

    return int_range(bits, signed, narrow)


def onnx_save(proto, path):
    import onnx

    onnx.save(proto, path)


EXTREMES = np.array([3e38, -3e38, 1e30, -1e-30, 1e-45, -1e-45, 0.0, -0.0, 7.0], np.float32)


@pytest.mark.parametrize("name", ["conv_per_tensor_float", "shifted_zero_point", "fp8_e4m3", "fp4_e2m1",
                                  "trunc_avgpool", "residual_add", "rounding_half_up", "linear_16bit"])
def test_zoo_extreme_inputs(name, zoo_dir, clean_dir):
    """Huge (x/s overflows float32), subnormal and signed-zero inputs: float mode still
    matches qonnx (overflow to inf, clamping, FloatQuant's inf -> NaN), exact mode still
    matches the oracle."""
    spec = zoo.BY_NAME[name]
    clean_path, mw = cleaned(zoo.exported(name, zoo_dir), clean_dir)
    m = bitsmith.load(clean_path)
    iname = mw.graph.input[0].name
    rng = np.random.default_rng(5)
    for k in range(2):
        feed = {iname: rng.choice(EXTREMES, spec.input_shape).astype(np.float32)}
        with np.errstate(all="ignore"):
            ref = execute_onnx(mw, feed, return_full_exec_context=True)
        got = m.run(feed, mode="float", intermediates=True)
        FloatProof(mw.model, ref, got, f"{name} extremes {k}").run()
        exact_outputs_match(mw.model, m, feed, f"{name} extremes {k}")
