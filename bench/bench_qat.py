#!/usr/bin/env python3
"""Time one QAT training step of a 4-bit CNN: float model, bitsmith, Brevitas, in one process run.

The network (32x32 RGB input, batch 64): conv3x3 3->32, ReLU, conv3x3 32->64, ReLU, 2x2 max pool,
conv3x3 64->64, ReLU, global average pool, linear 64->10.
  float     the plain PyTorch model
  bitsmith  bitsmith.ModelQuantizer with IntQuant(bits=4) weights (per tensor, max|w| each step) and
            IntQuant(bits=4, signed=False) activations after every ReLU (running min/max), calibrated
            on one batch
  brevitas  the same network from brevitas.nn: QuantConv2d/QuantLinear(weight_bit_width=4) (per-tensor
            max|w| scale each step) and QuantReLU(bit_width=4) (Brevitas' default unsigned activation
            quantizer: percentile statistics for its first steps, then a learned scale)
A step is forward + cross-entropy + backward + Adam step. The three models are timed round-robin
(each round runs every model for the same number of steps) so background load hits them alike;
the reported time per step is the median over rounds. The section "QAT training step" of
docs/benchmarks.md is replaced (or added); the rest of the file is left as it is.

Run: .venv/bin/python bench/bench_qat.py [--threads N] [--rounds R] [--no-markdown] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from machine import cpu_model

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
# Time the working tree's bitsmith (python/, with its built _core), not an older installed copy;
# PYTHONPATH still wins, so another tree can be compared against this one.
if any((ROOT / "python" / "bitsmith").glob("_core*")) and not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT / "python"))
SECTION = "## QAT training step"
BATCH, SIZE, CLASSES = 64, 32, 10


def float_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, CLASSES),
    )


def bitsmith_net(base: nn.Module, x: torch.Tensor) -> nn.Module:
    import bitsmith
    from bitsmith.quant import IntQuant

    cfg = bitsmith.QuantizationConfig(weight=IntQuant(bits=4), activation=IntQuant(bits=4, signed=False))
    return bitsmith.ModelQuantizer(cfg).quantize_model(base, calib_data=[x])


def brevitas_net(base: nn.Module) -> nn.Module:
    import brevitas.nn as qnn

    layers = []
    for m in base:
        if isinstance(m, nn.Conv2d):
            q = qnn.QuantConv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding,
                                weight_bit_width=4)
        elif isinstance(m, nn.Linear):
            q = qnn.QuantLinear(m.in_features, m.out_features, bias=True, weight_bit_width=4)
        elif isinstance(m, nn.ReLU):
            layers.append(qnn.QuantReLU(bit_width=4))
            continue
        else:
            layers.append(m)
            continue
        with torch.no_grad():
            q.weight.copy_(m.weight)
            q.bias.copy_(m.bias)
        layers.append(q)
    return nn.Sequential(*layers)


class Trainer:
    def __init__(self, name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        self.name, self.model, self.x, self.y = name, model.train(), x, y
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.loss = nn.CrossEntropyLoss()

    def step(self) -> float:
        out = self.model(self.x)
        loss = self.loss(out, self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss)

    def timed(self, steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - t0) / steps


class AutoTrainer(Trainer):
    """The bitsmith model with the fake-quant backend 'auto' (int_quant in PyTorch, proven
    bit-identical to the default C++ core)."""

    def step(self) -> float:
        from bitsmith import fake_quant

        with fake_quant.backend("auto"):
            return super().step()


def write_section(path: Path, text: str) -> None:
    """Replaces the QAT section (up to the next '## ' heading) or appends it."""
    old = path.read_text() if path.exists() else ""
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[nxt + 1:] if nxt >= 0 else "")
    path.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=5, help="steps per model per round")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per model first")
    ap.add_argument("--markdown", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--no-markdown", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="also print torch.profiler's top operators of 5 bitsmith steps")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    y = torch.randint(0, CLASSES, (BATCH,))
    base = float_net()
    trainers = [
        Trainer("float", copy.deepcopy(base), x, y),
        Trainer("bitsmith", bitsmith_net(copy.deepcopy(base), x), x, y),
        Trainer("brevitas", brevitas_net(copy.deepcopy(base)), x, y),
    ]
    auto = bitsmith_net(copy.deepcopy(base), x)
    trainers.append(AutoTrainer("bitsmith (auto)", auto, x, y))
    load_before = os.getloadavg()[0]
    for t in trainers:
        t.timed(args.warmup)
    times = {t.name: [] for t in trainers}
    for r in range(args.rounds):
        for t in trainers:
            times[t.name].append(t.timed(args.steps))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {v[-1] * 1e3:.1f} ms" for n, v in times.items()),
              flush=True)
    load_after = os.getloadavg()[0]
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            trainers[1].timed(5)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    med = {n: statistics.median(v) for n, v in times.items()}
    bf = med["bitsmith"] / med["float"]

    import brevitas

    import bitsmith

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        "Written by `bench/bench_qat.py`; rerun it to refresh. (`bench/bench_reference.py` rewrites this whole "
        "file: run bench_qat.py after it.)",
        "",
        f"- date: {now}",
        f"- CPU: {cpu_model()}; torch intra-op threads: {torch.get_num_threads()}; load average {load_before:.2f} "
        f"before, {load_after:.2f} after (other work shared the cores when above 0)",
        f"- versions: torch {torch.__version__}, bitsmith {bitsmith.__version__}, brevitas {brevitas.__version__}, "
        f"python {platform.python_version()}",
        f"- model: conv3x3 3->32, ReLU, conv3x3 32->64, ReLU, maxpool 2, conv3x3 64->64, ReLU, global avgpool, "
        f"linear 64->10; input {BATCH}x3x{SIZE}x{SIZE}; a step = forward + cross-entropy + backward + Adam",
        "- bitsmith: `ModelQuantizer` with `IntQuant(bits=4)` weights, `IntQuant(bits=4, signed=False)` "
        "activations after each ReLU; Brevitas: `QuantConv2d`/`QuantLinear(weight_bit_width=4)`, "
        "`QuantReLU(bit_width=4)` (defaults otherwise)",
        f"- timing: {args.warmup} warm-up steps each, then {args.rounds} rounds of {args.steps} steps per model, "
        "round-robin; the median of the rounds' mean step time",
        "",
        "| model | step (ms) | / float |",
        "| --- | ---: | ---: |",
    ]
    for n in ("float", "bitsmith", "bitsmith (auto)", "brevitas"):
        lines.append(f"| {n} | {med[n] * 1e3:.2f} | {med[n] / med['float']:.2f}x |")
    lines += [
        "",
        "bitsmith uses the default fake-quant backend (the C++ core); bitsmith (auto) the same model with "
        "`fake_quant.backend(\"auto\")` (int_quant in PyTorch, bit-identical).",
        "",
        f"Ratios: bitsmith/float {med['bitsmith'] / med['float']:.2f}x (auto "
        f"{med['bitsmith (auto)'] / med['float']:.2f}x), brevitas/float "
        f"{med['brevitas'] / med['float']:.2f}x, bitsmith/brevitas {med['bitsmith'] / med['brevitas']:.2f}x "
        "(goal: bitsmith/float <= 1.3x and bitsmith/brevitas < 1).",
        f"Goal <= 1.3x float: {'met' if bf <= 1.3 else 'not met'} with the default backend, "
        f"{'met' if med['bitsmith (auto)'] <= 1.3 * med['float'] else 'not met'} with 'auto'; faster than Brevitas: "
        f"{'yes' if med['bitsmith'] < med['brevitas'] else 'no'}. `--profile` shows where the bitsmith step "
        "spends its time.",
        "",
    ]
    text = "\n".join(lines)
    print()
    print(text)
    if not args.no_markdown:
        write_section(Path(args.markdown), text)
        print(f"wrote the section to {args.markdown}")


if __name__ == "__main__":
    main()
