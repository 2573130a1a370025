"""Whole-model quantization: QuantizationConfig + ModelQuantizer + calibrate, on plain models."""

import numpy as np
import pytest
import torch
from torch import nn

import bitsmith
from bitsmith.quant import IntQuant
from bitsmith import nn as qnn


class Residual(nn.Module):
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
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))


def loader(shape, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand((8,) + shape, generator=g) for _ in range(n)]


def test_issue_example_runs_as_written(tmp_path):
    torch.manual_seed(0)
    model = mlp()
    data = loader((16,))
    example_input = data[0]
    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=4), activation=IntQuant(bits=4, signed=False))
    qmodel = bitsmith.ModelQuantizer(cfg).quantize_model(model, calib_data=data)
    kinds = [type(m) for m in qmodel.modules()]
    assert kinds.count(qnn.QuantLinear) == 3 and kinds.count(qnn.QuantReLU) == 2
    # QAT: one optimisation step changes the float weights.
    opt = torch.optim.SGD(qmodel.parameters(), lr=0.1)
    before = qmodel.get_submodule("0").weight.detach().clone()
    qmodel.train()
    loss = qmodel(example_input).square().mean()
    loss.backward()
    opt.step()
    assert not torch.equal(before, qmodel.get_submodule("0").weight)
    path = tmp_path / "model.onnx"
    bitsmith.export_qonnx(qmodel.eval(), example_input, str(path))
    y = bitsmith.load(str(path))(example_input.numpy())
    ref = qmodel(example_input).detach().numpy()
    assert y.shape == ref.shape
    assert (y.argmax(1) == ref.argmax(1)).all()


def test_overrides_by_type_and_name():
    cfg = bitsmith.QuantizationConfig(
        weight=IntQuant(bits=4), activation=IntQuant(bits=4, signed=False),
        by_type={nn.Linear: {"weight": IntQuant(bits=8)}}, by_name={"4": {"weight": None}})
    q = bitsmith.ModelQuantizer(cfg).quantize_model(mlp(), calib_data=loader((16,)))
    assert q.get_submodule("0").weight_quant.spec.bits == 8
    assert type(q.get_submodule("4")) is nn.Linear  # left in float by name


def test_residual_functions_become_modules_and_calibrate():
    torch.manual_seed(1)
    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=4), activation=IntQuant(bits=4, signed=False),
                                      input=IntQuant(bits=8))
    q = bitsmith.ModelQuantizer(cfg).quantize_model(Residual(), calib_data=loader((3, 8, 8)))
    kinds = [type(m) for m in q.modules()]
    assert kinds.count(qnn.QuantAdd) == 1 and kinds.count(qnn.QuantReLU) == 2
    assert kinds.count(qnn.QuantConv2d) == 2 and kinds.count(qnn.QuantIdentity) == 1
    # The residual join shares one signed quantizer for both operands.
    add = next(m for m in q.modules() if isinstance(m, qnn.QuantAdd))
    assert add.input_quant.spec.signed and add.input_quant.has_stats
    x = loader((3, 8, 8), n=1, seed=5)[0]
    y1 = q.eval()(x)
    y2 = q(x)
    assert torch.equal(y1, y2)  # eval mode: statistics no longer move


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="bias"):
        bitsmith.QuantizationConfig(bias="int8")
    with pytest.raises(ValueError, match="by_name"):
        bitsmith.QuantizationConfig(by_name={"x": {"wieght": None}})
    with pytest.raises(ValueError, match="backend"):
        bitsmith.ModelQuantizer(bitsmith.QuantizationConfig(backend="nope"))


def test_import_bitsmith_does_not_import_torch():
    import subprocess, sys
    code = "import sys, bitsmith; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


class ConvBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


def test_batchnorm_after_a_quantized_layer_is_folded_in_the_graph(tmp_path):
    torch.manual_seed(2)
    model = ConvBn()
    with torch.no_grad():  # a BatchNorm that does something
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
    model.eval()
    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=8), activation=IntQuant(bits=8, signed=False))
    q = bitsmith.ModelQuantizer(cfg).quantize_model(model, calib_data=loader((3, 8, 8)))
    folded = qnn.fold_batchnorm(q)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in q.modules())  # the original is untouched
    x = loader((3, 8, 8), n=1, seed=9)[0]
    path = tmp_path / "convbn.onnx"
    bitsmith.export_qonnx(q.eval(), x, str(path))  # refused before graph folding existed
    engine = bitsmith.load(str(path))
    out = engine(x.numpy(), mode="float")
    ref = folded.eval()(x).detach().numpy()
    assert out.shape == ref.shape and (out.argmax(1) == ref.argmax(1)).all()
