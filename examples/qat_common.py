"""Shared parts of the QAT examples (qat_digits.py, qat_fashion_mnist.py): training loop with a
progress bar, BatchNorm fusion before quantization, and the export -> bitsmith engine check."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.fx as fx
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval
from tqdm.auto import tqdm

import bitsmith


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batches(x: torch.Tensor, y: torch.Tensor, size: int, shuffle: bool, gen: torch.Generator | None = None):
    order = torch.randperm(len(x), generator=gen) if shuffle else torch.arange(len(x))
    for i in range(0, len(x), size):
        idx = order[i:i + size]
        yield x[idx], y[idx]


def train(model, x, y, epochs: int, lr: float, desc: str, batch_size: int = 64, seed: int = 0,
          weight_decay: float = 0.0) -> nn.Module:
    """Adam with a cosine learning-rate decay; one tqdm bar over all steps."""
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = (len(x) + batch_size - 1) // batch_size
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    with tqdm(total=epochs * steps_per_epoch, desc=desc, unit="step", leave=False) as bar:
        for epoch in range(epochs):
            for xb, yb in batches(x, y, batch_size, True, gen):
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
    return model.eval()


@torch.no_grad()
def logits_of(model, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    model.eval()
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def accuracy(logits: np.ndarray, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y.numpy()).mean())


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Folds each BatchNorm into the Conv/Linear right before it (eval statistics), so the model
    given to ModelQuantizer has none: QAT then trains the folded weights that export writes."""
    gm = fx.symbolic_trace(model.eval())
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], (nn.BatchNorm1d, nn.BatchNorm2d)):
            continue
        prev = node.args[0]
        if prev.op != "call_module" or len(prev.users) != 1:
            raise ValueError(f"{node.target}: BatchNorm does not directly follow a single-use layer")
        layer, bn = modules[prev.target], modules[node.target]
        fused = fuse_conv_bn_eval(layer, bn) if isinstance(layer, nn.Conv2d) else fuse_linear_bn_eval(layer, bn)
        parent, _, leaf = prev.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, leaf, fused)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm


def engine_check(name: str, qmodel, x_test: torch.Tensor, y_test: torch.Tensor, out_dir: Path | None = None,
                 exact_limit: int | None = None) -> dict:
    """Exports qmodel to QONNX, runs the test set through bitsmith (float and exact mode) and
    compares with the PyTorch eval forward.

    A differing prediction is a float-boundary case when the two sides' logits differ, for that
    sample, because some value fell on the other side of a rounding boundary: float mode sums
    dot products in another order than PyTorch (and exact mode sums them exactly), so a value
    within float32 rounding of a quantizer's decision boundary may round to the neighbouring
    level. We count (a) samples whose logits are not identical, (b) predictions that differ,
    and for each differing prediction show its logit difference next to PyTorch's top-2 margin.
    Exact mode is slower (every value an exact rational); ``exact_limit`` runs it on the first
    that many test images only.
    """
    qmodel = qmodel.eval()
    torch_logits = logits_of(qmodel, x_test)
    torch_acc = accuracy(torch_logits, y_test)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(out_dir or tmp) / f"{name}.onnx"
        bitsmith.export_qonnx(qmodel, x_test[:1], str(path))
        engine = bitsmith.load(str(path))
        result = {"name": name, "torch_acc": torch_acc}
        for mode in ("float", "exact"):
            n = len(x_test) if mode == "float" or exact_limit is None else min(exact_limit, len(x_test))
            xs, ys, tl = x_test[:n].numpy().astype(np.float32), y_test[:n], torch_logits[:n]
            outs = [engine(xs[i:i + 500], mode=mode) for i in range(0, n, 500)]
            eng = np.concatenate([np.asarray(o, dtype=np.float64) for o in outs])
            pred_t, pred_e = tl.argmax(1), eng.argmax(1)
            diff_logits = int(np.sum(np.any(eng != tl, axis=1)))
            # Max-abs difference beyond float summation noise means a quantization level moved.
            noise = 1e-4 * np.maximum(1.0, np.abs(tl).max(axis=1))
            level_moved = np.abs(eng - tl).max(axis=1) > noise
            differ = np.nonzero(pred_t != pred_e)[0]
            cases = []
            for i in differ:
                top2 = np.sort(tl[i])[-2:]
                cases.append((int(i), float(np.abs(eng[i] - tl[i]).max()), float(top2[1] - top2[0]),
                              bool(level_moved[i])))
            result[mode] = {"n": n, "acc": accuracy(eng, ys), "torch_acc": accuracy(tl, ys),
                            "logits_differ": diff_logits,
                            "level_moved": int(level_moved.sum()), "pred_differ": len(differ), "cases": cases}
    return result


def print_engine_check(r: dict) -> None:
    print(f"  [{r['name']}] PyTorch eval accuracy {100 * r['torch_acc']:.2f}%")
    for mode in ("float", "exact"):
        m = r[mode]
        print(f"  [{r['name']}] bitsmith {mode:5s}: accuracy {100 * m['acc']:.2f}% on {m['n']} images "
              f"(PyTorch on the same images {100 * m['torch_acc']:.2f}%), "
              f"predictions differing from PyTorch: {m['pred_differ']}/{m['n']}, "
              f"samples with any logit not identical: {m['logits_differ']}, "
              f"of which a quantization level moved (float-boundary): {m['level_moved']}")
        for i, d, margin, moved in m["cases"]:
            why = "boundary case: a rounding decision flipped" if moved else "top-2 tie within float noise"
            print(f"      sample {i}: max |logit diff| {d:.3g}, PyTorch top-2 margin {margin:.3g} ({why})")
        # Every differing prediction must come from a boundary case (a moved level or a near tie).
        unexplained = [c for c in m["cases"] if not c[3] and c[2] > 1e-3]
        status = "AGREE" if not unexplained else "DISAGREE"
        delta = 100 * (m["acc"] - m["torch_acc"])
        print(f"  [{r['name']}] engine-vs-PyTorch ({mode}): {status} "
              f"(accuracy delta {delta:+.2f} points, {m['pred_differ']} differing predictions, "
              f"{len(m['cases']) - len(unexplained)} of them counted float-boundary cases)")
