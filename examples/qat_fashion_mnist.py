#!/usr/bin/env python3
"""Quantization-aware training on Fashion-MNIST (28x28, 10 classes).

The data come from the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist;
the files are in /usr/share/datasets/fashion-mnist); nothing is downloaded. A CNN is trained in
float (BatchNorm folded into the convs before quantization), then fine-tuned with QAT at 4-bit
weights+activations and at 2-bit through bitsmith.ModelQuantizer; each quantized model is exported
to QONNX, loaded in bitsmith and run on the test set (mode="float" and "exact").
Targets (issue 3): 4-bit within 1 point of float, 2-bit within 3 points.

Run: .venv/bin/python examples/qat_fashion_mnist.py [--quick] [--data DIR]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import bitsmith
from bitsmith.quant import IntQuant

from qat_common import accuracy, engine_check, fuse_batchnorm, logits_of, print_engine_check, seed_everything, train

SEED = 0
DATA = Path("/usr/share/datasets/fashion-mnist")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format): magic 0x0000 08 <ndim>, big-endian dims, then uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_data(root: Path):
    missing = [f for f in FILES if not (root / f).exists()]
    if missing:
        sys.exit(f"Fashion-MNIST not found in {root} (missing {', '.join(missing)}): "
                 "install it with `apt-get install dataset-fashion-mnist`, or pass --data DIR")
    xtr, ytr, xte, yte = (read_idx(root / f) for f in FILES)
    # Pixels k/255, k in 0..255: exactly the 8-bit unsigned input grid below.
    to_x = lambda a: torch.tensor(a, dtype=torch.float32).unsqueeze(1) / 255.0  # noqa: E731
    to_y = lambda a: torch.tensor(a, dtype=torch.long)  # noqa: E731
    return to_x(xtr), to_y(ytr), to_x(xte), to_y(yte)


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 14x14
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 3x3
        nn.Flatten(), nn.Linear(288, 10))


INPUT_QUANT = IntQuant(bits=8, signed=False, scale_stats="const", const_scale=1 / 255)


def int_config(bits: int) -> bitsmith.QuantizationConfig:
    """Learned (LSQ) scales. At 2 bits the weights are ternary (narrow: levels -1, 0, 1) and both
    scales start from the MSE-best clipping range: a min-max start leaves most values at 0
    (PTQ accuracy ~20% instead of ~60%) and QAT does not recover in a few epochs."""
    if bits >= 4:
        return bitsmith.QuantizationConfig(
            weight=IntQuant(bits=bits, granularity="per_channel", learned_scale=True),
            activation=IntQuant(bits=bits, signed=False, learned_scale=True),
            input=INPUT_QUANT)
    return bitsmith.QuantizationConfig(
        weight=IntQuant(bits=bits, narrow=True, granularity="per_channel", learned_scale=True, scale_stats="mse"),
        activation=IntQuant(bits=bits, signed=False, learned_scale=True, scale_stats="mse"),
        input=INPUT_QUANT)


QAT_LR = {4: 5e-4, 2: 2e-3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a subset and one epoch each: a smoke test")
    ap.add_argument("--data", type=Path, default=DATA, help=f"folder of the four .gz files (default {DATA})")
    args = ap.parse_args()
    torch.set_num_threads(2)
    seed_everything(SEED)
    t0 = time.time()
    x_tr, y_tr, x_te, y_te = load_data(args.data)
    # Sized for ~10 minutes on 2 shared CPU cores (docs/examples.md): the full run trains on the
    # whole training set and checks exact mode (about 20 ms an image) on the first exact_n test images.
    if args.quick:
        n_train, n_test, exact_n, ep_float, ep_qat = 3000, 500, 200, 1, {4: 1, 2: 1}
    else:
        n_train, n_test, exact_n, ep_float, ep_qat = 60000, 10000, 1000, 5, {4: 1, 2: 3}
    x_tr, y_tr, x_te, y_te = x_tr[:n_train], y_tr[:n_train], x_te[:n_test], y_te[:n_test]
    print(f"Fashion-MNIST: {len(x_tr)} train / {len(x_te)} test images (exact mode on {exact_n}), 28x28; "
          f"{'quick' if args.quick else 'full'} run (float {ep_float} epochs, "
          f"QAT 4-bit {ep_qat[4]}, 2-bit {ep_qat[2]})")

    float_model = train(cnn(), x_tr, y_tr, ep_float, 2e-3, "float CNN", batch_size=128, seed=SEED)
    float_acc = accuracy(logits_of(float_model, x_te), y_te)
    fused = fuse_batchnorm(float_model)
    print(f"float CNN: test accuracy {100 * float_acc:.2f}% "
          f"(BatchNorm folded: {100 * accuracy(logits_of(fused, x_te), y_te):.2f}%)  [{time.time() - t0:.0f} s]")

    results = {}
    for bits, target in ((4, 1.0), (2, 3.0)):
        qmodel = bitsmith.ModelQuantizer(int_config(bits)).quantize_model(fused, calib_data=[x_tr[:512]])
        ptq = accuracy(logits_of(qmodel, x_te), y_te)
        seed_everything(SEED)
        train(qmodel, x_tr, y_tr, ep_qat[bits], QAT_LR[bits], f"QAT {bits}-bit CNN", batch_size=128, seed=SEED)
        acc = accuracy(logits_of(qmodel, x_te), y_te)
        results[f"cnn_w{bits}a{bits}"] = (qmodel, ptq, acc, target)
        print(f"QAT {bits}-bit: test accuracy {100 * acc:.2f}% (PTQ before QAT {100 * ptq:.2f}%)  "
              f"[{time.time() - t0:.0f} s]")

    print("\naccuracy on the test set (PyTorch eval):")
    print(f"  float CNN   {100 * float_acc:6.2f}%")
    for name, (_, ptq, acc, target) in results.items():
        gap = 100 * (float_acc - acc)
        verdict = "meets" if gap <= target else "MISSES"
        print(f"  {name:10s}  {100 * acc:6.2f}%  gap {gap:+.2f} points ({verdict} the {target:g}-point target)"
              f", PTQ {100 * ptq:.2f}%")

    print("\nexport to QONNX, run in bitsmith:")
    for name, (m, *_rest) in results.items():
        print_engine_check(engine_check(name, m, x_te, y_te, exact_limit=exact_n))
    print(f"\ndone in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
