#!/usr/bin/env python3
"""Train the bundled demo model and export it as QONNX.

A small Brevitas MLP (64-64-32-10) learns scikit-learn's bundled 8x8 digits with quantization-aware training:
the input is quantized to 8 bits, weights to 4 bits (signed, narrow range, one float scale per output channel)
and activations to 4 bits unsigned. Seeds are fixed and training takes a few seconds on two CPU cores.

Writes, next to this script:
  digits_w4a4.onnx   the QONNX model (input "global_in" shaped (N, 64), free batch dimension)
  digits_inputs.npy  float32 (300, 64) test images, pixel values scaled to [0, 1]
  digits_labels.npy  int64 (300,) their labels

Run: .venv/bin/python examples/make_demo_model.py
"""

import os
import random
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore")  # Brevitas and torch.onnx are chatty about optional features
os.environ.setdefault("OMP_NUM_THREADS", "2")

try:
    import onnxoptimizer  # noqa: F401  (Brevitas's ONNX export needs it)
except ImportError:
    raise SystemExit("make_demo_model.py needs onnxoptimizer: .venv/bin/pip install onnxoptimizer==0.4.2")

import brevitas.nn as qnn  # noqa: E402
from brevitas.export import export_qonnx  # noqa: E402
from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Uint8ActPerTensorFloat  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 0
N_TEST = 300
EPOCHS = 30
BITS_W = 4
BITS_A = 4
BITS_IN = 8


class Digits(nn.Module):
    """64 -> 64 -> 32 -> 10; every tensor that crosses a layer boundary is quantized."""

    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=BITS_IN, return_quant_tensor=True)
        layers = []
        sizes = [64, 64, 32]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers.append(self._linear(n_in, n_out))
            layers.append(qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=BITS_A, return_quant_tensor=True))
        layers.append(self._linear(sizes[-1], 10))
        self.body = nn.Sequential(*layers)

    @staticmethod
    def _linear(n_in, n_out):
        return qnn.QuantLinear(
            n_in, n_out, bias=True, weight_quant=Int8WeightPerChannelFloat, weight_bit_width=BITS_W
        )

    def forward(self, x):
        return self.body(self.inp(x))


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def load_data():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixels are 0..16
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    test, train = order[:N_TEST], order[N_TEST:]
    return x[train], y[train], x[test], y[test]


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def main():
    torch.set_num_threads(2)
    seed_everything(SEED)
    x_train, y_train, x_test, y_test = load_data()
    model = Digits()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for epoch in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
        if epoch % 10 == 9 or epoch == EPOCHS - 1:
            print(f"epoch {epoch + 1:2d}  loss {loss.item():.3f}  test accuracy {accuracy(model, x_test, y_test):.3f}")

    model.eval()
    onnx_path = HERE / "digits_w4a4.onnx"
    export_qonnx(
        model,
        torch.from_numpy(x_test[:1]),
        export_path=str(onnx_path),
        dynamo=False,  # the TorchScript exporter keeps readable names (weights, Quant_0, ...)
        keep_initializers_as_inputs=False,  # weights are initializers, not graph inputs
        input_names=["global_in"],
        output_names=["global_out"],
    )
    make_batch_dynamic(onnx_path)
    np.save(HERE / "digits_inputs.npy", x_test)
    np.save(HERE / "digits_labels.npy", y_test)
    print(f"wrote {onnx_path.name} ({onnx_path.stat().st_size} bytes), digits_inputs.npy {x_test.shape}, "
          f"digits_labels.npy {y_test.shape}; final test accuracy {accuracy(model, x_test, y_test):.3f}")


def make_batch_dynamic(path):
    """Brevitas exports the example batch size; name the batch dimension "N" so any batch runs."""
    import onnx

    m = onnx.load(str(path))
    for vi in list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        dim0 = dims[0] if len(dims) else dims.add()
        dim0.ClearField("dim_value")
        dim0.dim_param = "N"
    del m.graph.value_info[:]  # intermediate shapes recorded with batch 1 would now be wrong
    onnx.save(m, str(path))


if __name__ == "__main__":
    main()
