"""Distributed QAT (issue 3, deliverable 7): examples/qat_ddp.py under torchrun, two CPU ranks, gloo.

Both ranks must end with identical quantizer parameters and buffers, and training must
have changed them. Plain DDP only broadcasts rank 0's
buffers before each forward and its parameters once, at wrapping; bitsmith.nn.Quantizer
reduces its statistics across ranks and broadcasts lazily initialised learned scales itself,
which these tests hold it to.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "qat_ddp.py"

pytest.importorskip("sklearn")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "torchrun"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


def _run(tmp: Path, *flags: str) -> tuple[list[dict], list[dict]]:
    cmd = _torchrun() + ["--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
                         str(EXAMPLE), "--out", str(tmp), *flags]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert p.returncode == 0, f"torchrun failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    final = [torch.load(tmp / f"rank{r}.pt") for r in range(2)]
    init = [torch.load(tmp / f"init{r}.pt") for r in range(2)]
    return final, init


def _differing(a: dict, b: dict) -> list[str]:
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("ddp_sync"))


def test_ranks_end_identical(synced):
    (r0, r1), (i0, i1) = synced
    assert r0, "no quantizer state was saved"
    assert _differing(i0, i1) == [], "DDP should start both ranks from rank 0's state"
    assert _differing(r0, r1) == []


def test_quantizers_trained(synced):
    (r0, _), (i0, _) = synced
    changed = set(_differing(i0, r0))
    # The LSQ weight scale is a parameter; the activation scales and ranges are buffers.
    assert "fc.weight_quant.scale" in changed
    assert {k for k in changed if k.endswith("act_quant.max_val")}
    assert {k for k in changed if k.endswith("act_quant.scale")}


def _assert_in_sync(r0: dict, r1: dict) -> None:
    apart = _differing(r0, r1)
    assert not apart, f"ranks ended apart: {', '.join(apart)}"


def test_learned_scales_initialised_under_ddp_stay_in_sync(tmp_path):
    (r0, r1), _ = _run(tmp_path, "--act", "learned", "--no-calib")
    _assert_in_sync(r0, r1)
