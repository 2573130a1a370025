"""Distributed QAT: a 4-bit CNN on scikit-learn's digits, trained with DistributedDataParallel.

Run it with two CPU processes (gloo):

    torchrun --nproc_per_node=2 examples/qat_ddp.py --out /tmp/qat_ddp

Each rank trains on its own half of every batch (as DistributedSampler would give it),
DDP averages the gradients, and at the end each rank saves every quantizer parameter and
buffer (learned and statistic scales, zero points, running min/max) to
``<out>/rank<k>.pt``, plus the same entries before training in ``<out>/init<k>.pt``.
tests/python/test_ddp.py checks that the ranks agree.

Statistics under DDP. Each rank sees its own shard of every batch; bitsmith.nn.Quantizer
all-reduces each batch's min/max across ranks before updating its running range, and a
learned scale initialised inside a DDP forward takes rank 0's value, so every rank keeps
identical scales without help from the training script.

Learned (LSQ) scales are parameters, but they initialise from the first batch they see;
DDP broadcasts parameters only once, when it wraps the model, so a scale first initialised
inside a DDP forward (``--act learned --no-calib``) starts, and stays, different on each
rank. Calibrating on the same data on every rank before wrapping avoids it.
"""

from __future__ import annotations

import argparse
import gc
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

import bitsmith
from bitsmith.nn import Quantizer
from bitsmith.quant import IntQuant


class Net(nn.Module):
    """A small CNN for 8x8 digits; ModelQuantizer turns it into a W4A4 network."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        x = self.pool(self.relu2(self.conv2(x)))
        return self.fc(self.flat(x))


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(d.target, dtype=torch.long)


def quantizer_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of every Quantizer in the model, by its full name."""
    out = {}
    for path, m in model.named_modules():
        if isinstance(m, Quantizer):
            for name, t in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
                out[f"{path}.{name}"] = t.detach().clone()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for rank<k>.pt and init<k>.pt")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64, help="global batch (split over the ranks)")
    ap.add_argument("--act", choices=("minmax", "learned"), default="minmax",
                    help="activation scales from running min/max, or learned (LSQ)")
    ap.add_argument("--no-calib", action="store_true",
                    help="skip calibration: learned scales then initialise in the first DDP forward")
    args = ap.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the same float model and the same data order on every rank

    x, y = digits()
    cfg = bitsmith.QuantizationConfig(
        weight=IntQuant(bits=4), activation=IntQuant(bits=4, signed=False, learned_scale=args.act == "learned"),
        # One LSQ-style learned weight scale, so the quantizers also hold a trained parameter.
        by_name={"fc": {"weight": IntQuant(bits=4, learned_scale=True)}})
    # Calibrated on the same first batch everywhere, so training starts from equal statistics
    # (and learned scales start equal: each initialises from the first batch it sees).
    calib = None if args.no_calib else [x[:args.batch]]
    qmodel = bitsmith.ModelQuantizer(cfg).quantize_model(Net(), calib_data=calib)
    qmodel.train()
    model = DDP(qmodel)  # broadcasts rank 0's parameters and buffers once, here
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(quantizer_state(qmodel), out / f"init{rank}.pt")

    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(x))
    per_rank = args.batch // world
    for step in range(args.steps):
        idx = order[(step * args.batch) % (len(x) - args.batch):][:args.batch]
        mine = idx[rank * per_rank:(rank + 1) * per_rank]  # this rank's shard of the global batch
        # Scale the shards differently so the ranks' activation ranges really differ.
        xb = x[mine] * (1.0 + 0.5 * rank)
        loss = loss_fn(model(xb), y[mine])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if rank == 0 and step % 4 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)

    torch.save(quantizer_state(qmodel), out / f"rank{rank}.pt")
    dist.barrier()
    # DDP's reducer owns threads bound to the process group: release it before the group,
    # or the process can abort at exit ("terminate called without an active exception").
    del model, opt
    gc.collect()
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
