"""export_qonnx on a small zoo: PyTorch eval == qonnx's executor == bitsmith.load (float and exact).

Every scale is a power of two and the bit widths are small, so every product and sum in
every Conv/Gemm is exact in float32 and the three agree with == (no rounding-boundary
cases can arise). The reference is the eval forward of fold_batchnorm(model): export
folds BatchNorm into the preceding layer's float weight, then quantizes it.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("qonnx")
pytest.importorskip("bitsmith._core")
from torch import nn  # noqa: E402

import bitsmith  # noqa: E402
import bitsmith.nn as bn  # noqa: E402
from bitsmith.export import ExportError, export_qonnx  # noqa: E402
from bitsmith.quant import IntQuant  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.util.cleanup import cleanup_model  # noqa: E402
from zoo_torch import calibrated, zoo  # noqa: E402  (shared with test_export_float_scales.py)

X8 = IntQuant(bits=8, scale="po2")
W4 = IntQuant(bits=4, scale="po2", granularity="per_channel")
W4T = IntQuant(bits=4, scale="po2", granularity="per_channel", channel_axis=1)  # ConvTranspose weights
A4 = IntQuant(bits=4, signed=False, scale="po2")


def q(cls, *args, w=W4, **kw):
    return cls(*args, weight_quant=w, input_quant=X8, bias_quant="int32", **kw)


def qonnx_run(path, x):
    proto = onnx.load(path)
    for v in list(proto.graph.input) + list(proto.graph.output):  # qonnx's executor wants fixed shapes
        if len(v.type.tensor_type.shape.dim):
            v.type.tensor_type.shape.dim[0].dim_value = x.shape[0]
    m = cleanup_model(ModelWrapper(proto))
    return execute_onnx(m, {m.graph.input[0].name: x})[m.graph.output[0].name]


@pytest.mark.parametrize("name", list(zoo()))
def test_zoo_round_trip(name, tmp_path):
    model, shape = zoo()[name]
    torch.manual_seed(0)
    calibrated(model, shape)
    path = str(tmp_path / f"{name}.onnx")
    export_qonnx(model, torch.randn(shape), path)
    x = torch.randn((5,) + shape[1:], generator=torch.Generator().manual_seed(3))  # another batch size
    with torch.no_grad():
        ref = bn.fold_batchnorm(model).eval()(x).numpy()
    np.testing.assert_array_equal(qonnx_run(path, x.numpy()), ref)
    m = bitsmith.load(path)
    for mode in ("float", "exact"):
        np.testing.assert_array_equal(m.run({"input": x.numpy()}, mode=mode)["output"], ref)


def test_file_layout(tmp_path):
    model, shape = zoo()["cnn"]
    calibrated(model, shape)
    path = str(tmp_path / "cnn.onnx")
    export_qonnx(model, torch.randn(shape), path)
    proto = onnx.load(path)
    assert {o.domain: o.version for o in proto.opset_import}["qonnx.custom_op.general"] == 1
    inits = {i.name for i in proto.graph.initializer}
    quants = [n for n in proto.graph.node if n.op_type == "Quant"]
    assert quants and not any(n.op_type == "BatchNormalization" for n in proto.graph.node)
    for n in quants:
        assert n.domain == "qonnx.custom_op.general"
        assert {a.name for a in n.attribute} == {"signed", "narrow", "rounding_mode"}
        assert all(i in inits for i in n.input[1:]), n.input
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    cleanup_model(ModelWrapper(proto))  # accepts the file as written


def test_minifloat_bipolar_ternary_nodes(tmp_path):
    from bitsmith.quant import FP8_E4M3, BipolarQuant, TernaryQuant

    model = nn.Sequential(bn.QuantIdentity(FP8_E4M3), bn.QuantHardTanh(-2.0, 2.0, act_quant=TernaryQuant(
        scale_stats="const", const_scale=0.5)), bn.QuantIdentity(BipolarQuant(scale_stats="const", const_scale=0.25)))
    path = str(tmp_path / "mf.onnx")
    x = torch.randn(4, 10) * 3
    export_qonnx(model.eval(), x, path)
    ops = [n.op_type for n in onnx.load(path).graph.node]
    assert ops.count("FloatQuant") == 1 and ops.count("BipolarQuant") == 1 and ops.count("Quant") == 1
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_array_equal(qonnx_run(path, x.numpy()), ref)
    np.testing.assert_array_equal(bitsmith.load(path).run({"input": x.numpy()}, mode="float")["output"], ref)


class Branches(nn.Module):
    """Two branches joined by QuantCat; a learned scale and an asymmetric (zero point) quantizer."""

    def __init__(self):
        super().__init__()
        self.inq = bn.QuantIdentity(IntQuant(bits=6, learned_scale=True))
        self.conv = q(bn.QuantConv2d, 3, 3, 1)
        self.cat = bn.QuantCat(dim=1, input_quant=IntQuant(bits=5, scale="po2"))
        self.out = bn.QuantIdentity(IntQuant(bits=4, signed=False, zero_point=True))

    def forward(self, x):
        x = self.inq(x)
        return self.out(self.cat(x, self.conv(x)))


def test_cat_learned_scale_zero_point(tmp_path):
    model = calibrated(Branches(), (4, 3, 5, 5))
    path = str(tmp_path / "b.onnx")
    x = torch.randn(2, 3, 5, 5)
    export_qonnx(model, x, path)
    proto = onnx.load(path)
    zps = [onnx.numpy_helper.to_array(i) for n in proto.graph.node if n.op_type == "Quant"
           for i in proto.graph.initializer if i.name == n.input[2]]
    assert any(z.item() != 0 for z in zps)  # the asymmetric quantizer's zero point travels
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_array_equal(qonnx_run(path, x.numpy()), ref)
    np.testing.assert_array_equal(bitsmith.load(path).run({"input": x.numpy()}, mode="float")["output"], ref)


def test_brevitas_export_parity(tmp_path):
    """Equivalent Brevitas and bitsmith models: identical forwards and identical qonnx executions.
    The Brevitas quantizers come from bitsmith.brevitas_backend (the one spec -> Brevitas mapping)."""
    brevitas_nn = pytest.importorskip("brevitas.nn")
    from brevitas.export import export_qonnx as brevitas_export
    from bitsmith.brevitas_backend import act_quantizer, weight_quantizer

    s = 2.0**-4

    def const(bits, sc, signed=True, narrow=False):
        return IntQuant(bits=bits, signed=signed, narrow=narrow, scale_stats="const", const_scale=sc)

    specs = (const(8, 2.0**-5), const(4, s, narrow=True), const(4, s, signed=False))
    theirs = nn.Sequential(
        brevitas_nn.QuantIdentity(act_quant=act_quantizer(specs[0])),
        brevitas_nn.QuantConv2d(3, 4, 3, bias=False, weight_quant=weight_quantizer(specs[1])),
        brevitas_nn.QuantReLU(act_quant=act_quantizer(specs[2]))).eval()
    ours = nn.Sequential(bn.QuantIdentity(specs[0]), bn.QuantConv2d(3, 4, 3, bias=False, weight_quant=specs[1]),
                         bn.QuantReLU(specs[2])).eval()
    with torch.no_grad():
        ours[1].weight.copy_(theirs[1].weight)
    x = torch.randn(2, 3, 6, 6)
    assert torch.equal(theirs(x), ours(x))
    brevitas_export(theirs, x, str(tmp_path / "b.onnx"))
    export_qonnx(ours, x, str(tmp_path / "o.onnx"))
    mb = cleanup_model(ModelWrapper(str(tmp_path / "b.onnx")))
    yb = execute_onnx(mb, {mb.graph.input[0].name: x.numpy()})[mb.graph.output[0].name]
    np.testing.assert_array_equal(qonnx_run(str(tmp_path / "o.onnx"), x.numpy()), yb)


class Odd(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


@pytest.mark.parametrize("module,where,why", [
    (nn.Sequential(bn.QuantIdentity(X8), nn.Conv2d(3, 3, 1)), "1", "QuantConv2d.from_float"),
    (nn.Sequential(bn.QuantIdentity(X8), Odd(nn.GELU())), "1.inner", "not supported"),
    (nn.Sequential(bn.QuantIdentity(X8), nn.BatchNorm2d(3)), "1", "cannot be folded"),
])
def test_refuses_unsupported(module, where, why, tmp_path):
    calibrated(module, (2, 3, 4, 4))
    with pytest.raises(ExportError, match=f"^{where}: .*{why}"):
        export_qonnx(module, torch.randn(2, 3, 4, 4), str(tmp_path / "x.onnx"))


def test_refuses_uncalibrated(tmp_path):
    module = nn.Sequential(nn.Identity(), bn.QuantReLU(A4))
    with pytest.raises(ExportError, match="^1.act_quant: .*no statistics"):
        export_qonnx(module, torch.randn(2, 3, 4, 4), str(tmp_path / "x.onnx"))
