"""export_qcdq: standard ONNX QuantizeLinear -> [Clip] -> DequantizeLinear, run by onnxruntime.

- po2 zoo (zoo_torch, power-of-two scales): onnxruntime (default optimizations) == PyTorch eval, with ==;
- float-scale zoo: onnxruntime (ORT_ENABLE_BASIC) == qonnx's executor on export_qonnx's file, with ==
  (test_export_float_scales.py proves qonnx against PyTorch, counting float32 boundary cases);
- single quantizers with arbitrary float scales, every bit width 1..8, signed/unsigned/narrow,
  per-tensor and per-channel: == PyTorch (onnxruntime divides x / s as bitsmith does);
- zero points: QuantizeLinear adds z after rounding, bitsmith before; every differing element is
  shown to be exactly an element where float32 x/s + z rounds onto the other side of a .5 tie;
- the file passes onnx.checker (full_check) and uses the default domain only;
- every refusal names the module path.
"""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("bitsmith._core")
from torch import nn  # noqa: E402

import bitsmith  # noqa: E402
import bitsmith.nn as bn  # noqa: E402
from bitsmith.export import ExportError  # noqa: E402
from bitsmith.quant import FP8_E4M3, BipolarQuant, IntQuant, TernaryQuant  # noqa: E402
from zoo_torch import calibrated, zoo  # noqa: E402

QCDQ_ZOO = [n for n in zoo() if n != "depthwise"]  # depthwise: QuantAvgPool2d(FLOOR), refused below


def ort_run(path, x, level=None):
    so = ort.SessionOptions()
    if level is not None:
        so.graph_optimization_level = level
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: np.asarray(x)})[0]


def check_file(path):
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain for o in proto.opset_import} <= {"", "ai.onnx"}
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    inits = {i.name for i in proto.graph.initializer}
    qdq = [n for n in proto.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear", "Clip")]
    assert qdq
    for n in qdq:  # scales, zero points and clip bounds are initializers
        assert all(i in inits for i in n.input[1:]), (n.op_type, list(n.input))
    return proto


@pytest.mark.parametrize("name", QCDQ_ZOO)
def test_zoo_po2_equals_pytorch(name, tmp_path):
    model, shape = zoo()[name]
    torch.manual_seed(0)
    calibrated(model, shape)
    path = tmp_path / f"{name}.onnx"
    bitsmith.export_qcdq(model, torch.randn(shape), path)
    proto = check_file(path)
    ops = [n.op_type for n in proto.graph.node]
    assert "Quant" not in ops and "BatchNormalization" not in ops
    x = torch.randn((5,) + shape[1:], generator=torch.Generator().manual_seed(3))  # another batch size
    with torch.no_grad():
        ref = bn.fold_batchnorm(model).eval()(x).numpy()
    np.testing.assert_array_equal(ort_run(path, x.numpy()), ref)


@pytest.mark.parametrize("name", QCDQ_ZOO)
def test_zoo_float_scales_equals_qonnx(name, tmp_path):
    """Float scales: QCDQ in onnxruntime == qonnx's executor on the QONNX export, element for element.
    ORT_ENABLE_BASIC: the default ORT_ENABLE_ALL fuses DequantizeLinear -> Conv/Gemm -> QuantizeLinear
    into integer QLinear kernels that requantize on their own (docs/export.md)."""
    pytest.importorskip("qonnx")
    from test_export import qonnx_run

    model, shape = zoo("float")[name]
    torch.manual_seed(0)
    calibrated(model, shape)
    x = torch.randn((5,) + shape[1:], generator=torch.Generator().manual_seed(3)).numpy()
    bitsmith.export_qcdq(model, torch.randn(shape), tmp_path / "c.onnx")
    bitsmith.export_qonnx(model, torch.randn(shape), tmp_path / "q.onnx")
    y = ort_run(tmp_path / "c.onnx", x, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)
    np.testing.assert_array_equal(y, qonnx_run(str(tmp_path / "q.onnx"), x))


def _levels(bits, signed, narrow):
    return IntQuant(bits=bits, signed=signed, narrow=narrow).int_range


@pytest.mark.parametrize("signed,narrow", [(True, False), (True, True), (False, False), (False, True)])
def test_every_bit_width_float_scales(signed, narrow, tmp_path):
    """Arbitrary float32 scales, per tensor and per channel (weights): onnxruntime == PyTorch."""
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(4096, 8, generator=gen) * 3
    for bits in range(1, 9):
        if bits == 1 and (signed or narrow):
            continue  # signed: bipolar (refused, test_refusals); unsigned narrow: not a valid spec
        spec = dict(bits=bits, signed=signed, narrow=narrow)
        act = bn.QuantIdentity(IntQuant(**spec, scale_stats="const", const_scale=0.0137 * 3.0**bits))
        lin = bn.QuantLinear(8, 5, bias=False, weight_quant=IntQuant(**spec, granularity="per_channel"),
                             input_quant=IntQuant(**spec, scale_stats="const", const_scale=0.1))
        with torch.no_grad():
            lin.weight.copy_(torch.randn(5, 8, generator=gen) * torch.rand(5, 1, generator=gen))
        for k, model in enumerate([act.eval(), nn.Sequential(lin, bn.QuantIdentity(IntQuant(
                bits=bits, signed=signed, narrow=narrow, scale_stats="const", const_scale=1 / 7))).eval()]):
            path = tmp_path / f"b{bits}_{k}.onnx"
            bitsmith.export_qcdq(model, x[:2], path)
            check_file(path)
            with torch.no_grad():
                ref = model(x).numpy()
            y = ort_run(path, x.numpy(), ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)
            np.testing.assert_array_equal(y, ref, err_msg=f"bits={bits} model {k}")


def test_zero_point_boundary_cases(tmp_path):
    """QuantizeLinear: clamp(round(x/s) + z); bitsmith: round(clamp(fl(x/s + z))). They differ exactly
    where the float32 sum x/s + z rounds onto or across a .5 tie that x/s alone does not reach."""
    q = bn.QuantIdentity(IntQuant(bits=6, signed=False, zero_point=True))
    calibrated(nn.Sequential(q), (64, 16))
    s, z = np.float32(0.0371), np.float32(37.0)
    with torch.no_grad():
        q.act_quant.scale.fill_(float(s))
        q.act_quant.zero_point.fill_(float(z))
    path = tmp_path / "zp.onnx"
    bitsmith.export_qcdq(q, torch.randn(2, 1), path)
    check_file(path)
    # Random values, plus values within a few float32 steps of every tie (k + 0.5) * s.
    rng = np.random.default_rng(5)
    ties = ((np.arange(-40, 30, dtype=np.float32) + np.float32(0.5)) * s).astype(np.float32)
    near, up, down = [ties], ties, ties
    for _ in range(6):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
        near += [up, down]
    x = np.concatenate([rng.standard_normal(20000).astype(np.float32) * 2, *near]).astype(np.float32)[:, None]
    with torch.no_grad():
        ref = q(torch.from_numpy(x)).numpy()
    y = ort_run(path, x)
    lo, hi = _levels(6, False, False)
    u = (x / s).astype(np.float32)
    q_ours = np.round(np.clip((u + z).astype(np.float32), lo, hi))
    q_theirs = np.clip(np.round(u) + z, lo, hi)
    np.testing.assert_array_equal(ref, ((q_ours - z) * s).astype(np.float32))  # PyTorch: bitsmith's formula
    np.testing.assert_array_equal(y, ((q_theirs - z) * s).astype(np.float32))  # onnxruntime: QuantizeLinear's
    diff = y != ref
    assert np.array_equal(diff, q_ours != q_theirs)
    assert np.all(np.abs(q_ours - q_theirs)[diff] == 1)  # one step
    # ... where x/s + z (exact, float64) lies within one float32 spacing of a .5 tie: float32's
    # rounding of the sum decided the side.
    t = u.astype(np.float64) + float(z)
    assert np.all(np.abs(t[diff] - (np.floor(t[diff]) + 0.5)) <= np.spacing(np.abs(t[diff]).astype(np.float32)))
    print(f"zero point {z:g}: {int(diff.sum())} of {x.size} elements are float32 tie cases")
    assert diff.sum() > 0  # the constructed inputs reach the case


def test_quant_avgpool_round(tmp_path):
    """QuantAvgPool2d with rounding='ROUND' is QuantizeLinear at s * 2^t and DequantizeLinear at s."""
    model = nn.Sequential(bn.QuantIdentity(IntQuant(bits=8, scale="po2")), bn.QuantReLU(IntQuant(
        bits=4, signed=False, scale="po2")), bn.QuantAvgPool2d(2, input_quant=IntQuant(bits=4, signed=False,
                                                                                          scale="po2"),
                                                               rounding="ROUND"))
    calibrated(model, (4, 3, 8, 8))
    path = tmp_path / "pool.onnx"
    bitsmith.export_qcdq(model, torch.randn(2, 3, 8, 8), path)
    check_file(path)
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(2)) * 2
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_array_equal(ort_run(path, x.numpy()), ref)


def test_narrow_and_small_bits_use_clip(tmp_path):
    model = nn.Sequential(bn.QuantIdentity(IntQuant(bits=8, narrow=True, scale_stats="const", const_scale=0.25)),
                          bn.QuantReLU(IntQuant(bits=3, signed=False, scale_stats="const", const_scale=0.5)),
                          bn.QuantIdentity(IntQuant(bits=8, scale_stats="const", const_scale=0.5))).eval()
    path = tmp_path / "clip.onnx"
    bitsmith.export_qcdq(model, torch.randn(2, 4), path)
    proto = check_file(path)
    ops = [n.op_type for n in proto.graph.node]
    assert ops == ["QuantizeLinear", "Clip", "DequantizeLinear", "Relu", "QuantizeLinear", "Clip",
                   "DequantizeLinear", "QuantizeLinear", "DequantizeLinear"]
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    clips = [n for n in proto.graph.node if n.op_type == "Clip"]
    assert [(inits[c.input[1]].item(), inits[c.input[2]].item()) for c in clips] == [(-127, 127), (0, 7)]
    assert inits[clips[0].input[1]].dtype == np.int8 and inits[clips[1].input[1]].dtype == np.uint8
    x = torch.randn(1000, 4) * 40
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_array_equal(ort_run(path, x.numpy()), ref)


def test_int32_bias_is_dequantize_linear(tmp_path):
    model, shape = zoo()["cnn"]
    calibrated(model, shape)
    path = tmp_path / "cnn.onnx"
    bitsmith.export_qcdq(model, torch.randn(shape), path)
    proto = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    conv = [n for n in proto.graph.node if n.op_type in ("Conv", "Gemm")]
    producers = {o: n for n in proto.graph.node for o in n.output}
    for n in conv:
        dq = producers[n.input[2]]
        assert dq.op_type == "DequantizeLinear" and inits[dq.input[0]].dtype == np.int32


class Odd(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def _refusals():
    const = dict(scale_stats="const", const_scale=0.5)
    return [
        (nn.Sequential(bn.QuantIdentity(IntQuant(bits=8, **const)), bn.QuantIdentity(IntQuant(bits=16, **const))),
         "1.act_quant", "bits=16"),
        (nn.Sequential(bn.QuantIdentity(FP8_E4M3)), "0.act_quant", "MiniFloatQuant"),
        (nn.Sequential(bn.QuantIdentity(BipolarQuant(**const))), "0.act_quant", "BipolarQuant"),
        (nn.Sequential(bn.QuantIdentity(TernaryQuant(**const))), "0.act_quant", "TernaryQuant"),
        (nn.Sequential(bn.QuantIdentity(IntQuant(bits=8, **const)), bn.QuantLinear(
            8, 4, weight_quant=IntQuant(bits=4, granularity="per_group", group_size=4))), "1.weight_quant",
         "per_group"),
        (nn.Sequential(Odd(bn.QuantIdentity(IntQuant(bits=4, rounding="floor", **const)))), "0.inner.act_quant",
         "rounding='FLOOR'"),
        (nn.Sequential(bn.QuantIdentity(IntQuant(bits=4, **const)), bn.QuantAvgPool2d(2, input_quant=IntQuant(
            bits=4, **const))), "1", "QuantAvgPool2d"),
        (nn.Sequential(bn.QuantIdentity(IntQuant(bits=8, **const)), nn.GELU()), "1", "not supported by export_qcdq"),
    ]


@pytest.mark.parametrize("case", range(len(_refusals())))
def test_refusals_name_the_module(case, tmp_path):
    module, where, why = _refusals()[case]
    x = torch.randn(2, 3, 4, 4) if isinstance(module[-1], bn.QuantAvgPool2d) else torch.randn(2, 8)
    module.eval()
    with pytest.raises(ExportError, match=f"^{where}: .*{why}"):
        bitsmith.export_qcdq(module, x, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_zoo_depthwise_refused():
    model, shape = zoo()["depthwise"]
    calibrated(model, shape)
    with pytest.raises(ExportError, match=r"^6: QuantAvgPool2d\(rounding='FLOOR'\)"):
        bitsmith.export_qcdq(model, torch.randn(shape), "unused.onnx")


def test_export_qonnx_after_qcdq(tmp_path):
    """Both exporters register symbolics for the same ops: each must still write its own nodes."""
    model = nn.Sequential(bn.QuantIdentity(IntQuant(bits=4, scale_stats="const", const_scale=0.5))).eval()
    x = torch.randn(2, 3)
    bitsmith.export_qcdq(model, x, tmp_path / "a.onnx")
    bitsmith.export_qonnx(model, x, tmp_path / "b.onnx")
    bitsmith.export_qcdq(model, x, tmp_path / "c.onnx")
    ops = [[n.op_type for n in onnx.load(str(tmp_path / f)).graph.node] for f in ("a.onnx", "b.onnx", "c.onnx")]
    assert ops[0] == ops[2] == ["QuantizeLinear", "Clip", "DequantizeLinear"] and ops[1] == ["Quant"]


def test_bitsmith_load_runs_qcdq(tmp_path):
    """The engine has no QuantizeLinear/DequantizeLinear ops yet: skipped until it does."""
    model = nn.Sequential(bn.QuantIdentity(IntQuant(bits=4, scale_stats="const", const_scale=0.5))).eval()
    x = torch.randn(3, 5)
    bitsmith.export_qcdq(model, x, tmp_path / "a.onnx")
    try:
        m = bitsmith.load(str(tmp_path / "a.onnx"))
        out = m.run({"input": x.numpy()}, mode="float")["output"]
    except bitsmith.Error as e:
        pytest.skip(f"bitsmith.load does not run QCDQ files: {e}")
    with torch.no_grad():
        np.testing.assert_array_equal(out, model(x).numpy())


def test_lazy_name():
    code = ("import sys, bitsmith; assert 'torch' not in sys.modules; assert 'export_qcdq' in bitsmith.__all__; "
            "f = bitsmith.export_qcdq; import bitsmith.qcdq as m; assert f is m.export_qcdq and callable(f)")
    subprocess.run([sys.executable, "-c", code], check=True)
