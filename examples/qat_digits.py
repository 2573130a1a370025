#!/usr/bin/env python3
"""Quantization-aware training on scikit-learn's digits (8x8, bundled with scikit-learn).

1. a small CNN trained in float (with BatchNorm, folded into the convs before quantization);
2. QAT of that CNN at 4-bit weights+activations and at 2-bit, with bitsmith.ModelQuantizer;
3. a binary MLP (BipolarQuant weights and activations), also through ModelQuantizer;
then each quantized model is exported to QONNX, loaded in bitsmith and run on the test set in
mode="float" and mode="exact"; the engine's accuracy is compared with the PyTorch eval accuracy.

Run: .venv/bin/python examples/qat_digits.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import bitsmith
from bitsmith.quant import BipolarQuant, IntQuant

from qat_common import accuracy, engine_check, fuse_batchnorm, logits_of, print_engine_check, seed_everything, train

SEED = 0


def load_data():
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixels 0..16 -> [0, 1]
    y = torch.tensor(d.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(range(len(y)), test_size=0.25, random_state=SEED, stratify=d.target)
    return x[idx_train], y[idx_train], x[idx_test], y[idx_test]


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 4x4
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 2x2
        nn.Flatten(), nn.Linear(128, 10))


def binary_mlp() -> nn.Module:
    # Hardtanh keeps the pre-binarization values in [-1, 1], where the straight-through gradient flows.
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 256), nn.BatchNorm1d(256), nn.Hardtanh(),
        nn.Linear(256, 256), nn.BatchNorm1d(256), nn.Hardtanh(),
        nn.Linear(256, 10))


# The input pixels are k/16, k in 0..16: exactly an unsigned 8-bit grid with scale 1/16.
INPUT_QUANT = IntQuant(bits=8, signed=False, scale="po2", scale_stats="const", const_scale=1 / 16)


def int_config(bits: int) -> bitsmith.QuantizationConfig:
    # Learned (LSQ) scales: per output channel for weights, per tensor for activations.
    return bitsmith.QuantizationConfig(
        weight=IntQuant(bits=bits, granularity="per_channel", learned_scale=True),
        activation=IntQuant(bits=bits, signed=False, learned_scale=True),
        input=INPUT_QUANT)


def binary_config() -> bitsmith.QuantizationConfig:
    return bitsmith.QuantizationConfig(
        weight=BipolarQuant(granularity="per_channel"),
        activation=BipolarQuant(scale_stats="const", const_scale=1.0),
        input=INPUT_QUANT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few epochs: a smoke test (about 20 s)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    seed_everything(SEED)
    t0 = time.time()
    x_tr, y_tr, x_te, y_te = load_data()
    ep_float, ep_qat, ep_bin = (3, {4: 2, 2: 2}, 3) if args.quick else (40, {4: 20, 2: 60}, 60)
    print(f"digits: {len(x_tr)} train / {len(x_te)} test images, 8x8; "
          f"{'quick' if args.quick else 'full'} run (float {ep_float} epochs, QAT 4-bit {ep_qat[4]}, "
          f"2-bit {ep_qat[2]}, binary MLP {ep_bin})")

    float_model = train(cnn(), x_tr, y_tr, ep_float, 3e-3, "float CNN", seed=SEED)
    float_acc = accuracy(logits_of(float_model, x_te), y_te)
    fused = fuse_batchnorm(float_model)
    print(f"float CNN: test accuracy {100 * float_acc:.2f}% "
          f"(BatchNorm folded: {100 * accuracy(logits_of(fused, x_te), y_te):.2f}%)")

    results = {}
    for bits in (4, 2):
        qmodel = bitsmith.ModelQuantizer(int_config(bits)).quantize_model(fused, calib_data=[x_tr[:256]])
        ptq = accuracy(logits_of(qmodel, x_te), y_te)
        seed_everything(SEED)
        train(qmodel, x_tr, y_tr, ep_qat[bits], 1e-3, f"QAT {bits}-bit CNN", seed=SEED)
        results[f"cnn_w{bits}a{bits}"] = (qmodel, ptq)

    seed_everything(SEED)
    mlp = train(binary_mlp(), x_tr, y_tr, ep_float, 3e-3, "float MLP", seed=SEED)
    mlp_float_acc = accuracy(logits_of(mlp, x_te), y_te)
    bmodel = bitsmith.ModelQuantizer(binary_config()).quantize_model(fuse_batchnorm(mlp))
    seed_everything(SEED)
    train(bmodel, x_tr, y_tr, ep_bin, 1e-3, "QAT binary MLP", seed=SEED)
    results["binary_mlp"] = (bmodel, None)

    print("\naccuracy on the test set (PyTorch eval):")
    print(f"  float CNN            {100 * float_acc:6.2f}%")
    for name, (m, ptq) in results.items():
        acc = accuracy(logits_of(m, x_te), y_te)
        ref = mlp_float_acc if name == "binary_mlp" else float_acc
        extra = f", before QAT (PTQ) {100 * ptq:.2f}%" if ptq is not None else f", float MLP {100 * ref:.2f}%"
        print(f"  {name:20s} {100 * acc:6.2f}%  gap {100 * (ref - acc):+.2f} points{extra}")

    print("\nexport to QONNX, run in bitsmith:")
    for name, (m, _) in results.items():
        print_engine_check(engine_check(name, m, x_te, y_te))
    print(f"\ndone in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
