"""ModelQuantizer with backend="brevitas": Brevitas layers configured from bitsmith specs.

With constant scales (power-of-two or not) and weight scales from statistics, the native and
Brevitas backends quantize to the same levels with the same float32 arithmetic, so their
forwards are equal (==), their QONNX exports execute identically in qonnx's executor and in
bitsmith (exact mode). Activation scales from statistics are calibrated the Brevitas way
(statistics of the float network, averaged over batches; docs/model_quantizer.md,
"Backends"), which test_calibration_is_brevitas_calibration_mode pins down.
"""

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")
pytest.importorskip("qonnx")
pytest.importorskip("bitsmith._core")
from torch import nn  # noqa: E402

import bitsmith  # noqa: E402
from bitsmith.model_quantizer import UnsupportedSpec  # noqa: E402
from bitsmith.quant import FP8_E4M3, IntQuant  # noqa: E402
import brevitas.nn as bnn  # noqa: E402
import onnx  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.util.cleanup import cleanup_model  # noqa: E402


class Residual(nn.Module):
    """A small CNN with a residual add (a join sharing one quantizer) and functional ReLUs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        y = y + self.conv2(y)
        y = self.pool(torch.relu(y))
        return self.fc(torch.flatten(y, 1))


def mlp():
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.Hardtanh(-0.75, 0.75),
                         nn.Linear(32, 5))


class Conv1dCat(nn.Module):
    """Conv1d, a functional Tanh and a concatenation (one shared quantizer)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(8 * 6, 3)

    def forward(self, x):
        a = torch.tanh(self.conv(x))
        return self.fc(self.flat(torch.cat([a, a * 0.5], dim=1)))


def upsample():
    """ConvTranspose2d (output channels on axis 1 of its weight) and Sigmoid."""
    return nn.Sequential(nn.ConvTranspose2d(2, 3, 2, stride=2), nn.Sigmoid(), nn.Flatten(), nn.Linear(3 * 6 * 6, 3))


MODELS = {"mlp": (mlp, (16,)), "cnn": (Residual, (3, 8, 8)), "conv1d": (Conv1dCat, (3, 8)), "up": (upsample, (2, 3, 3))}


def loader(shape, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand((8,) + shape, generator=g) * 2 - 1 for _ in range(n)]


def const(bits, s, scale="float", **kw):
    return IntQuant(bits=bits, scale=scale, scale_stats="const", const_scale=s, **kw)


SPECS = {
    "po2_const": dict(weight=const(4, 2.0**-4, "po2", narrow=True), activation=const(4, 2.0**-3, "po2", signed=False),
                      input=const(8, 2.0**-6, "po2")),
    "float_const": dict(weight=const(4, 0.05), activation=const(4, 0.1, signed=False), input=const(8, 0.01)),
    # Scales c where float32 (c * levels) / levels != c: Brevitas' own constant scaling cannot hold them.
    "awkward_const": dict(weight=const(4, 0.8588302135467529 / 16), activation=const(4, 0.9237837791442871 / 8,
                                                                                     signed=False),
                          input=const(8, 0.8972969055175781 / 64)),
    "weight_stats": dict(weight=IntQuant(bits=4, scale="po2", granularity="per_channel"),
                         activation=const(5, 2.0**-3, "po2", signed=False, rounding="FLOOR"),
                         input=const(8, 2.0**-6, "po2")),
}


def quantized(name, backend, specs, calib=None):
    build, _ = MODELS[name]
    torch.manual_seed(3)
    cfg = bitsmith.QuantizationConfig(**specs, backend=backend)
    if specs["weight"].granularity == "per_channel":  # ConvTranspose weights: (in, out, kH, kW)
        cfg.by_type[nn.ConvTranspose2d] = {"weight": specs["weight"].replace(channel_axis=1)}
    return bitsmith.ModelQuantizer(cfg).quantize_model(build(), calib_data=calib).eval()


def qonnx_run(path, x):
    proto = onnx.load(path)
    for v in list(proto.graph.input) + list(proto.graph.output):  # the executor wants fixed shapes
        if len(v.type.tensor_type.shape.dim):
            v.type.tensor_type.shape.dim[0].dim_value = x.shape[0]
    m = cleanup_model(ModelWrapper(proto))
    return execute_onnx(m, {m.graph.input[0].name: x})[m.graph.output[0].name]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_issue_snippet_with_brevitas_backend(name, tmp_path):
    build, shape = MODELS[name]
    torch.manual_seed(0)
    model = build()
    data = loader(shape)
    example_input = data[0]
    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=4), activation=IntQuant(bits=4, signed=False),
                                      backend="brevitas")
    qmodel = bitsmith.ModelQuantizer(cfg).quantize_model(model, calib_data=data)
    kinds = [type(m) for m in qmodel.modules()]
    assert kinds.count(bnn.QuantLinear) == 1 + 2 * (name == "mlp")
    assert not any(type(m).__module__.startswith("bitsmith.nn") for m in qmodel.modules())
    # QAT: one optimisation step changes the float weights.
    first = {"mlp": "0", "up": "0"}.get(name, "conv")
    before = qmodel.get_submodule(first).weight.detach().clone()
    opt = torch.optim.SGD(qmodel.parameters(), lr=0.1)
    qmodel.train()
    qmodel(example_input).square().mean().backward()
    opt.step()
    assert not torch.equal(before, qmodel.get_submodule(first).weight)
    path = str(tmp_path / "model.onnx")
    bitsmith.export_qonnx(qmodel.eval(), example_input, path)
    assert any(n.op_type == "Quant" for n in onnx.load(path).graph.node)
    with torch.no_grad():
        ref = qmodel(example_input).numpy()
    y = bitsmith.load(path)(example_input.numpy())
    assert y.shape == ref.shape and (y.argmax(1) == ref.argmax(1)).all()


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_native_and_brevitas_backends_agree(name, spec_name, tmp_path):
    specs = SPECS[spec_name]
    native, brev = quantized(name, "native", specs), quantized(name, "brevitas", specs)
    assert any(isinstance(m, bnn.QuantIdentity) for m in brev.modules())
    joins = {"cnn": "SharedQuantAdd", "conv1d": "SharedQuantCat"}
    if name in joins:  # Brevitas' way to share a quantizer: one QuantIdentity for every operand
        join = next(m for m in brev.modules() if type(m).__name__ == joins[name])
        assert isinstance(join.input_quant, bnn.QuantIdentity)
    x = loader(MODELS[name][1], n=1, seed=7)[0]
    with torch.no_grad():
        yn, yb = native(x), brev(x)
    assert torch.equal(yn, yb)
    pn, pb = str(tmp_path / "native.onnx"), str(tmp_path / "brevitas.onnx")
    bitsmith.export_qonnx(native, x, pn)
    bitsmith.export_qonnx(brev, x, pb)
    np.testing.assert_array_equal(qonnx_run(pn, x.numpy()), qonnx_run(pb, x.numpy()))
    en, eb = bitsmith.load(pn).run({"input": x.numpy()}, mode="exact"), bitsmith.load(pb).run(
        {"input": x.numpy()}, mode="exact")
    np.testing.assert_array_equal(en["output"], eb["output"])
    if spec_name in ("po2_const", "weight_stats") and name in ("mlp", "cnn"):
        # Power-of-two scales: float32 is exact, so all of them agree (Sigmoid and Tanh are
        # computed in double in exact mode, in float32 by torch).
        np.testing.assert_array_equal(en["output"], yb.numpy())


def test_calibration_is_brevitas_calibration_mode(capsys):
    """Brevitas calibrates on the float network (quantization off) and averages the batches'
    statistics; the progress bar is bitsmith's."""
    data = loader((16,), n=2, seed=4)
    top = IntQuant(bits=4, signed=False).int_range[1]
    cfg = bitsmith.QuantizationConfig(activation=IntQuant(bits=4, signed=False), weight=IntQuant(bits=4),
                                      backend="brevitas")
    torch.manual_seed(5)
    model = mlp()
    q = bitsmith.ModelQuantizer(cfg).quantize_model(model, calib_data=data)
    assert "calibrating" in capsys.readouterr().err
    with torch.no_grad():
        maxes = [torch.relu(model[0](x)).max() for x in data]
    expected = (sum(maxes) / len(maxes)) / top
    scale = q.get_submodule("1").act_quant.scale()
    assert torch.isclose(scale, expected, rtol=1e-6)
    bitsmith.calibrate(q, data, progress=False)  # calibrating again works too


@pytest.mark.parametrize("weight,activation", [
    (IntQuant(bits=4, learned_bits=True), IntQuant(bits=4, signed=False, learned_bits=True)),
    (IntQuant(bits=4, narrow=True, rounding="FLOOR"), IntQuant(bits=5, signed=False, zero_point=True)),
    (IntQuant(bits=4, scale_stats="percentile", percentile=99.0),
     IntQuant(bits=4, signed=False, scale_stats="percentile", percentile=99.0, zero_point=True)),
    (IntQuant(bits=3, scale_stats="mse", rounding="CEIL"), IntQuant(bits=4, signed=False, scale_stats="mse")),
    (IntQuant(bits=4, learned_scale=True), IntQuant(bits=4, signed=False, learned_scale=True)),
    (IntQuant(bits=6, granularity="per_channel"), IntQuant(bits=4, signed=False, scale="po2")),
])
def test_every_mapped_setting_calibrates_trains_and_exports(weight, activation, tmp_path):
    cfg = bitsmith.QuantizationConfig(weight=weight, activation=activation, backend="brevitas")
    q = bitsmith.ModelQuantizer(cfg).quantize_model(mlp(), calib_data=loader((16,)))
    x = loader((16,), n=1, seed=2)[0]
    q.train()
    q(x).square().mean().backward()
    assert q.get_submodule("0").weight.grad is not None
    path = str(tmp_path / "m.onnx")
    bitsmith.export_qonnx(q.eval(), x, path)
    quants = [n for n in onnx.load(path).graph.node if n.op_type == "Quant"]
    assert len(quants) == 5  # three weights, two activations
    modes = {a.s.decode() for n in quants for a in n.attribute if a.name == "rounding_mode"}
    # Brevitas writes weights already quantized (with their rounding) under a ROUND Quant node.
    assert modes == {"ROUND", activation.rounding}
    assert bitsmith.load(path)(x.numpy()).shape == (8, 5)


@pytest.mark.parametrize("by_name,where,what", [
    ({"2": {"weight": IntQuant(bits=4, rounding="HALF_UP")}}, "2", "rounding='HALF_UP'"),
    ({"0": {"weight": IntQuant(bits=4, granularity="per_group", group_size=4)}}, "0", "per_group"),
    ({"4": {"weight": FP8_E4M3}}, "4", "MiniFloatQuant"),
    ({"0": {"bias": "int32"}}, "0", "bias='int32'"),
    ({"1": {"activation": IntQuant(bits=4, zero_point=True)}}, "1", "zero_point=True"),
    ({"3": {"activation": IntQuant(bits=4, rounding="DOWN")}}, "3", "rounding='DOWN'"),
    ({"0": {"weight": IntQuant(bits=4, granularity="per_channel", channel_axis=1)}}, "0", "channel_axis=1"),
])
def test_refusals_name_module_path_and_setting(by_name, where, what):
    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=4), activation=IntQuant(bits=4, signed=False),
                                      by_name=by_name, backend="brevitas")
    with pytest.raises(UnsupportedSpec, match=f"^{where}: .*{what}"):
        bitsmith.ModelQuantizer(cfg).quantize_model(mlp())


def test_refusal_on_a_function_names_the_graph_node():
    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=4), activation=IntQuant(bits=4, rounding="HALF_DOWN"),
                                      by_name={"*": {"activation": None}}, backend="brevitas")
    with pytest.raises(UnsupportedSpec, match="^relu: .*rounding='HALF_DOWN'"):
        bitsmith.ModelQuantizer(cfg).quantize_model(Residual())


def test_missing_brevitas_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "brevitas", None)
    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=4), backend="brevitas")
    with pytest.raises(ImportError, match="pip install brevitas"):
        bitsmith.ModelQuantizer(cfg).quantize_model(mlp())
