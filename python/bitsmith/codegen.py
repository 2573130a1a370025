"""Code generation from Python, in the order an hls4ml user knows it:

    project = bitsmith.compile("model.onnx", "out/", target="hls", io="stream", reuse_factor=4)
    project.build()              # the C++ testbench / the HLS C simulation, with the host compiler
    y = project.predict(x)       # runs it; equals bitsmith.load("model.onnx")(x) bit for bit

The project is the same as `bitsmith compile` writes (docs/codegen.md); the build command and
the ap_types lookup are the CLI's own (one home, in C++)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

from . import _core
from ._errors import ExecutionError
from ._model import Model, load


@dataclass
class Project:
    """A generated project folder: what `compile` wrote and how to build and run it."""

    path: pathlib.Path
    target: str
    name: str
    steps: list = field(default_factory=list)  # one line per step: node, kind, ranges
    notes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # (value name, per-sample shape)
    outputs: list = field(default_factory=list)
    executable: pathlib.Path | None = None

    def build(self, ap_types: str | None = None) -> pathlib.Path:
        """Builds the testbench with $CXX (default c++); the hls target needs the ap_types headers
        (found inside the installed hls4ml package unless given)."""
        ap = _core.find_ap_types(ap_types or "", sys.executable) if self.target == "hls" else ""
        command, exe = _core.build_command(str(self.path), self.name, self.target, ap)
        r = subprocess.run(command, shell=True, capture_output=True, text=True)
        if r.returncode != 0:
            raise ExecutionError(f"building {self.path} failed ({command}):\n{(r.stdout + r.stderr)[:4000]}")
        self.executable = pathlib.Path(exe)
        return self.executable

    def predict(self, x):
        """Runs the built project on a batch: an array (single-input models) or a dict by input
        name, float32 with the batch first. Returns the output array (single-output models) or a
        dict by output name."""
        if self.executable is None:
            self.build()
        feeds = x if isinstance(x, dict) else {self.inputs[0][0]: x}
        arrays, n = [], None
        for name, shape in self.inputs:
            a = np.ascontiguousarray(feeds[name], dtype=np.float32)
            per = int(np.prod(shape))
            if a.size % per or (n is not None and a.size // per != n):
                raise ValueError(f"input '{name}' must hold whole samples of shape {tuple(shape[1:])}")
            n = a.size // per
            arrays.append(a.reshape(n, per))
        with tempfile.TemporaryDirectory(prefix="bitsmith-predict-") as tmp:
            src, dst = pathlib.Path(tmp, "in.bin"), pathlib.Path(tmp, "out.bin")
            np.concatenate(arrays, axis=1).tofile(src)
            r = subprocess.run([str(self.executable), str(src), str(dst)], capture_output=True, text=True)
            if r.returncode != 0:
                raise ExecutionError(f"{self.executable} failed: {r.stderr.strip()}")
            flat = np.fromfile(dst, dtype=np.float32).reshape(n, -1)
        out, at = {}, 0
        for name, shape in self.outputs:
            per = int(np.prod(shape))
            out[name] = flat[:, at : at + per].reshape((n, *shape[1:]))
            at += per
        return out if len(out) > 1 else next(iter(out.values()))


def compile(model, output_dir, target: str = "cpp", *, name: str | None = None,
            cut_float_tail: bool = False, io: str = "parallel", reuse_factor: int = 1,
            strategy: str = "latency", part: str | None = None, clock_period: float = 5.0) -> Project:
    """Generates a C++ (`target="cpp"`) or Vitis HLS (`"hls"`) project from a model (a path or a
    bitsmith.Model) into output_dir, atomically. HLS knobs carry hls4ml's names: io
    ("parallel" | "stream"), reuse_factor, strategy ("latency" | "resource"), part, clock_period (ns)."""
    if target not in ("cpp", "hls"):
        raise ValueError(f"target must be 'cpp' or 'hls', got {target!r}")
    if io not in ("parallel", "stream"):
        raise ValueError(f"io must be 'parallel' or 'stream', got {io!r}")
    if strategy not in ("latency", "resource"):
        raise ValueError(f"strategy must be 'latency' or 'resource', got {strategy!r}")
    if not isinstance(reuse_factor, int) or reuse_factor < 1:
        raise ValueError(f"reuse_factor must be a positive integer, got {reuse_factor!r}")
    m = model if isinstance(model, Model) else load(model)
    kwargs = {"part": part} if part else {}
    info = _core.compile_project(m._graph, os.fspath(output_dir), target=target,
                                 name=name or "", cut_float_tail=cut_float_tail,
                                 io=io, reuse_factor=reuse_factor, strategy=strategy,
                                 clock_ns=float(clock_period), **kwargs)
    return Project(path=pathlib.Path(output_dir), target=target, name=info["name"], steps=info["steps"],
                   notes=info["notes"], inputs=[(n, tuple(s)) for n, s in info["inputs"]],
                   outputs=[(n, tuple(s)) for n, s in info["outputs"]])
