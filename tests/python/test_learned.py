"""Learned power-of-two scales and learned bit widths in bitsmith.nn (docs/quantizers.md,
"Learned scales and bit widths").

The gradients are checked against references written here in plain PyTorch autograd: the
rounding straight-through by ``r + (round(r) - r).detach()``, the clamp by ``torch.where``.
"""

import math

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import bitsmith
from bitsmith import nn as bn
from bitsmith.export import export_qonnx
from bitsmith.quant import IntQuant, SpecError


def ste(t):
    """round half to even in the forward, identity in the backward."""
    return t + (torch.round(t) - t).detach()


def ref_quant(x, scale, bits, signed, narrow=False):
    """The LSQ fake quant with a (possibly learned) bit width, by autograd alone."""
    b = torch.clamp(ste(bits), 2, 16)
    if signed:
        hi = torch.exp2(b - 1) - 1
        lo = -torch.exp2(b - 1) + int(narrow)
    else:
        hi = torch.exp2(b) - 1 - int(narrow)
        lo = torch.zeros_like(hi)
    u = x / scale
    c = torch.where(u > hi, hi, torch.where(u < lo, lo, u))
    return ste(c) * scale


def is_po2(t):
    m, _ = torch.frexp(t.detach())
    return bool((m == 0.5).all())


def grid(n, step, seed=0, spread=40):
    """Dyadic values k * step with no ties at .5, so every float32 sum below is exact."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(-spread, spread + 1, (n,), generator=g).float()
    return (k + 0.25) * step


# --- specs -------------------------------------------------------------------------------

def test_specs_accept_learned_po2_and_bits():
    IntQuant(bits=4, scale="po2", learned_scale=True)
    IntQuant(bits=4, scale="po2", learned_scale=True, scale_stats="const", const_scale=0.125)
    IntQuant(bits=6, learned_bits=True, learned_scale=True, scale="po2")


@pytest.mark.parametrize("kw, msg", [
    (dict(bits=1, signed=False, learned_bits=True), "bits>=2"),
    (dict(bits=1, signed=False, learned_bits=True), "2..16"),
    (dict(scale="po2", learned_scale=True, scale_stats="const", const_scale=0.3), "0.25"),
    (dict(learned_bits=1), "True or False"),
])
def test_spec_messages(kw, msg):
    with pytest.raises(SpecError, match=msg.replace(".", r"\.")):
        IntQuant(**kw)


# --- learned po2 scale ---------------------------------------------------------------------

@pytest.mark.parametrize("signed", [True, False])
def test_po2_scale_forward_and_gradient(signed):
    x = grid(64, 2.0**-6)
    q = bn.Quantizer(IntQuant(bits=4, signed=signed, scale="po2", learned_scale=True))
    assert [n for n, _ in q.named_parameters()] == ["log2_scale"]
    q(x)  # initialises log2_scale from the statistics: the po2 scale compute_scale gives
    s0 = bitsmith.fake_quant.compute_scale(x, q.spec)[0]
    assert q.log2_scale.item() == math.log2(s0.item())
    with torch.no_grad():
        q.log2_scale.fill_(q.log2_scale.item() - 0.7)  # off the integer grid: round gives one step down
    w = grid(64, 0.5, seed=1)
    y = q(x)
    (y * w).sum().backward()

    l_ref = q.log2_scale.detach().clone().requires_grad_(True)
    y_ref = ref_quant(x, torch.exp2(ste(l_ref)), torch.tensor(4.0), signed)
    (y_ref * w).sum().backward()
    assert torch.equal(y, y_ref) and is_po2(q.learned_scale_value())
    assert q.learned_scale_value().item() == s0.item() / 2
    assert torch.equal(q.log2_scale.grad, l_ref.grad)
    # d scale / d log2_scale = ln2 * 2^round(l): the rounding is straight-through.
    s = 2.0 ** round(l_ref.item())
    u = (x / s).double()
    lo, hi = (-8, 7) if signed else (0, 15)
    lvl = torch.clamp(torch.round(u.clamp(lo, hi)), lo, hi)
    dyds = torch.where((u >= lo) & (u <= hi), lvl - u, lvl)
    expect = math.log(2.0) * s * float((w.double() * dyds).sum())
    assert q.log2_scale.grad.item() == pytest.approx(expect, rel=1e-6)


def test_po2_restriction_matches_brevitas():
    restrict = pytest.importorskip("brevitas.core.restrict_val")
    from bitsmith.nn.learned import po2_scale
    l0 = torch.tensor([-3.3, -0.5, 0.5, 1.5, 2.5, 2.7, 7.0])
    ours, theirs = l0.clone().requires_grad_(True), l0.clone().requires_grad_(True)
    w = torch.arange(1.0, 8.0)
    y_ours, y_theirs = po2_scale(ours), restrict.PowerOfTwoRestrictValue()(theirs)
    (y_ours * w).sum().backward()
    (y_theirs * w).sum().backward()
    assert torch.equal(y_ours, y_theirs) and torch.equal(ours.grad, theirs.grad)


def test_po2_scale_per_channel_weight_layer():
    torch.manual_seed(0)
    layer = bn.QuantLinear(6, 3, weight_quant=IntQuant(bits=4, scale="po2", learned_scale=True,
                                                       granularity="per_channel"),
                           input_quant=IntQuant(bits=8, scale="po2", learned_scale=True))
    layer(torch.randn(4, 6)).square().sum().backward()
    wq = layer.weight_quant
    assert wq.log2_scale.shape == (3, 1) and wq.log2_scale.grad.shape == (3, 1)
    assert is_po2(wq.learned_scale_value()) and layer.input_quant.log2_scale.grad is not None


# --- learned bit width ---------------------------------------------------------------------

@pytest.mark.parametrize("signed, narrow", [(True, False), (True, True), (False, False)])
@pytest.mark.parametrize("b0", [3.0, 4.4, 5.5])
def test_bits_forward_and_gradients(signed, narrow, b0):
    x = grid(80, 2.0**-4, seed=2, spread=600)
    spec = IntQuant(bits=4, signed=signed, narrow=narrow, learned_bits=True, learned_scale=True)
    q = bn.Quantizer(spec)
    assert sorted(n for n, _ in q.named_parameters()) == ["bits", "scale"]
    assert q.bits.item() == 4.0
    with torch.no_grad():
        q.initialized.fill_(True)
        q.scale.fill_(0.125)
        q.bits.fill_(b0)
    xg = x.clone().requires_grad_(True)
    w = grid(80, 0.5, seed=3)
    y = q(xg)
    (y * w).sum().backward()

    xr = x.clone().requires_grad_(True)
    sr = torch.tensor(0.125, requires_grad=True)
    br = torch.tensor(b0, requires_grad=True)
    y_ref = ref_quant(xr, sr, br, signed, narrow)
    (y_ref * w).sum().backward()
    assert q.current_bits == round(b0)
    assert torch.equal(y, y_ref)
    assert torch.equal(xg.grad, xr.grad)
    assert torch.equal(q.scale.grad, sr.grad)
    # ln2 * 2^(b-1) is not a dyadic: the op and autograd multiply in another order.
    torch.testing.assert_close(q.bits.grad, br.grad, rtol=1e-5, atol=0)
    assert q.bits.grad.item() != 0.0


def test_bits_clamped_to_2_16():
    q = bn.Quantizer(IntQuant(bits=4, learned_bits=True, scale_stats="const", const_scale=1.0))
    x = torch.arange(-40.0, 41.0)
    for b, used in [(0.3, 2), (1.6, 2), (16.4, 16), (30.0, 16)]:
        with torch.no_grad():
            q.bits.fill_(b)
        assert q.current_bits == used
        ref = bn.Quantizer(IntQuant(bits=used, scale_stats="const", const_scale=1.0))
        assert torch.equal(q(x), ref(x))


def test_statistics_follow_the_current_bit_width():
    x = torch.linspace(-3.0, 3.0, 50)
    q = bn.Quantizer(IntQuant(bits=8, learned_bits=True), dynamic=True)
    with torch.no_grad():
        q.bits.fill_(4.0)
    s, _ = q.current_scale(x)
    assert s.item() == torch.tensor(3.0 / 7).item()


def test_freeze_makes_the_bit_width_and_po2_scale_fixed():
    torch.manual_seed(0)
    q = bn.Quantizer(IntQuant(bits=6, learned_bits=True, learned_scale=True, scale="po2"))
    x = torch.randn(32)
    q(x)
    with torch.no_grad():
        q.bits.fill_(4.6)
        q.log2_scale.add_(0.3)
    before = q(x).detach()
    q.freeze()
    assert q.spec.bits == 5 and not q.spec.learned_bits and q.bits.item() == 5.0
    assert list(q.named_parameters()) == [] and is_po2(q.scale)
    assert torch.equal(q(x), before)
    assert set(q.state_dict()) >= {"bits", "scale"}


# --- QAT ---------------------------------------------------------------------------------

def test_qat_loop_moves_bits_and_keeps_po2():
    torch.manual_seed(0)
    model = nn.Sequential(
        bn.QuantIdentity(IntQuant(bits=8, scale="po2", learned_scale=True)),
        bn.QuantLinear(8, 8, weight_quant=IntQuant(bits=4, scale="po2", learned_scale=True)),
        bn.QuantReLU(IntQuant(bits=2, signed=False, learned_bits=True, learned_scale=True, scale="po2")),
    )
    act = model[2].act_quant
    x = torch.randn(64, 8)
    target = 4.0 * torch.relu(torch.randn(64, 8))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    seen_bits = set()
    for _ in range(40):
        opt.zero_grad()
        loss = (model(x) - target).square().mean()
        loss.backward()
        opt.step()
        seen_bits.add(act.current_bits)
        for m in (model[0].act_quant, model[1].weight_quant, act):
            assert is_po2(m.learned_scale_value())
    assert act.bits.item() != 2.0 and max(seen_bits) > 2


def test_model_quantizer_configs(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    data = [torch.rand(8, 8) for _ in range(3)]
    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=4, scale="po2", learned_scale=True),
                                      activation=IntQuant(bits=4, signed=False, learned_bits=True,
                                                          scale="po2", learned_scale=True))
    q = bitsmith.ModelQuantizer(cfg).quantize_model(model, calib_data=data)
    names = {n for n, _ in q.named_parameters()}
    assert any(n.endswith("act_quant.bits") for n in names), names
    assert any(n.endswith("weight_quant.log2_scale") for n in names), names
    q.train()
    q(data[0]).square().mean().backward()
    bits = [p for n, p in q.named_parameters() if n.endswith(".bits")]
    assert all(p.grad is not None for p in bits)
    path = str(tmp_path / "mq.onnx")
    export_qonnx(q.eval(), data[0], path)
    with torch.no_grad():
        ref = q.eval()(data[1]).numpy()
    np.testing.assert_array_equal(bitsmith.load(path).run({"input": data[1].numpy()}, mode="exact")["output"], ref)


# --- export --------------------------------------------------------------------------------

def _trained_model():
    torch.manual_seed(1)
    model = nn.Sequential(
        bn.QuantIdentity(IntQuant(bits=8, scale="po2", learned_scale=True)),
        bn.QuantConv2d(3, 4, 3, padding=1, weight_quant=IntQuant(bits=4, scale="po2", learned_scale=True,
                                                                 granularity="per_channel")),
        bn.QuantReLU(IntQuant(bits=3, signed=False, learned_bits=True, learned_scale=True, scale="po2")),
        nn.Flatten(),
        bn.QuantLinear(4 * 5 * 5, 3, weight_quant=IntQuant(bits=4, scale="po2", learned_scale=True)),
        bn.QuantIdentity(IntQuant(bits=8, learned_bits=True, scale="po2", learned_scale=True)),
    )
    x = torch.randn(16, 3, 5, 5)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(5):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    with torch.no_grad():
        model[2].act_quant.bits.fill_(5.4)  # a bit width away from the start, rounded to 5
        model[5].act_quant.bits.fill_(6.5)  # a tie: half to even gives 6
    return model, x


def test_export_writes_the_current_bit_width_and_exact_load_equals_eval(tmp_path):
    model, x = _trained_model()
    path = str(tmp_path / "learned.onnx")
    export_qonnx(model, x[:2], path)
    proto = onnx.load(path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    widths = [float(inits[n.input[3]]) for n in proto.graph.node if n.op_type == "Quant"]
    assert 5.0 in widths and 6.0 in widths and all(w == int(w) for w in widths)
    assert model[2].act_quant.bits.requires_grad  # export froze a copy, not the model
    xt = torch.randn(7, 3, 5, 5, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = model.eval()(xt).numpy()
    m = bitsmith.load(path)
    for mode in ("exact", "float"):
        np.testing.assert_array_equal(m.run({"input": xt.numpy()}, mode=mode)["output"], ref)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_learned_bits_symbolic_on_an_unfrozen_quantizer(tmp_path):
    # torch.onnx.export straight on a training quantizer: the symbolic writes round(bits) clamped.
    from bitsmith.export import _register_symbolics
    _register_symbolics()
    q = bn.Quantizer(IntQuant(bits=4, learned_bits=True, scale_stats="const", const_scale=0.25))
    with torch.no_grad():
        q.bits.fill_(17.2)
    path = str(tmp_path / "q.onnx")
    torch.onnx.export(q, (torch.randn(2, 3),), path, dynamo=False, opset_version=13,
                      custom_opsets={"qonnx.custom_op.general": 1})
    proto = onnx.load(path)
    quant = [n for n in proto.graph.node if n.op_type == "Quant"]
    assert len(quant) == 1
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    for n in proto.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = onnx.numpy_helper.to_array(n.attribute[0].t)
    assert float(consts[quant[0].input[3]]) == 16.0


class _DirectOp(nn.Module):
    def __init__(self):
        super().__init__()
        self.bits = nn.Parameter(torch.tensor(5.5))

    def forward(self, x):
        return torch.ops.bitsmith.int_quant_learned_bits(x, torch.tensor(0.25), torch.tensor(0.0), self.bits,
                                                         True, False, "ROUND")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_learned_bits_symbolic_on_the_op_itself(tmp_path):
    # The op called with a parameter: Round then Clip to 2..16 in front of the Quant's bit width.
    from bitsmith.export import _register_symbolics
    _register_symbolics()
    path = str(tmp_path / "op.onnx")
    torch.onnx.export(_DirectOp(), (torch.randn(2, 3),), path, dynamo=False, opset_version=13,
                      custom_opsets={"qonnx.custom_op.general": 1})
    proto = onnx.load(path)
    by_out = {o: n for n in proto.graph.node for o in n.output}
    quant = [n for n in proto.graph.node if n.op_type == "Quant"]
    clip = by_out[quant[0].input[3]]
    assert clip.op_type == "Clip" and by_out[clip.input[0]].op_type == "Round"
    import onnxruntime  # noqa: F401  (the Round/Clip part is plain ONNX: evaluate it alone)
    from onnx import helper
    sub = helper.make_model(helper.make_graph(
        [by_out[clip.input[0]], clip] + [by_out[i] for i in clip.input[1:] if i in by_out],
        "b", [], [helper.make_tensor_value_info(clip.output[0], onnx.TensorProto.FLOAT, None)],
        list(proto.graph.initializer)), opset_imports=[helper.make_opsetid("", 13)])
    sess = onnxruntime.InferenceSession(sub.SerializeToString())
    assert float(sess.run(None, {})[0]) == 6.0


# --- layers that split current_scale from the op ---------------------------------------------

def test_weight_layer_learned_bits():
    layer = bn.QuantLinear(6, 3, weight_quant=IntQuant(bits=4, learned_bits=True, learned_scale=True),
                           input_quant=IntQuant(bits=8, learned_bits=True, learned_scale=True))
    for _ in range(2):  # today the second forward raises: the bit width would be silently ignored
        layer(torch.randn(4, 6)).square().sum().backward()
    assert layer.weight_quant.bits.grad is not None and layer.input_quant.bits.grad is not None


def test_a_layer_that_bypasses_quantize_is_refused():
    q = bn.Quantizer(IntQuant(bits=4, learned_bits=True, learned_scale=True))
    x = torch.randn(8)
    for _ in range(3):
        q(x)  # forward: current_scale then quantize, fine
    s, z = q.current_scale(x)
    bitsmith.fake_quant.fake_quant(x, q.spec, s, z)  # the op called without the bit width
    with pytest.raises(RuntimeError, match="Quantizer.quantize"):
        q.current_scale(x)
