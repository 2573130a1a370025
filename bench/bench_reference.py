#!/usr/bin/env python3
"""Time bitsmith's reference engine against its peers on the same models, in one process run.

Engines, each at batch 1 and batch 1000:
  bitsmith exact  the reference engine's exact mode (the default)
  bitsmith float  its float32 mode (what qonnx/onnxruntime compute)
  qonnx           qonnx.util.cleanup, then qonnx.core.onnx_exec.execute_onnx (numpy, plus one onnxruntime
                  session per standard node and call)
  ort float       onnxruntime on a float version: weights folded, each activation Quant written as
                  Div/Add/Clip/Round/Sub/Mul (bit for bit qonnx's float formula); see float_onnx.py
  ort QCDQ        onnxruntime on qonnx's QuantToQCDQ rewrite, where that rewrite covers every Quant node
                  (onnxruntime then fuses QDQ groups into integer kernels, which may round differently)

Latency is the best wall time of one call (over repeated calls) divided by the batch; throughput is samples per second. Ratios are
throughput ratios bitsmith / peer (above 1: bitsmith is faster). The table goes to stdout and, as markdown with
the machine and versions, to docs/benchmarks.md.

Run: .venv/bin/python bench/bench_reference.py [--quick] [--markdown PATH | --no-markdown]
"""

import argparse
import datetime
import io
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")  # qonnx warns about finn-domain models and deprecated helpers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from machine import cpu_model  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402

import bitsmith  # noqa: E402
from float_onnx import RECIPES, cleaned, to_onnxruntime_model  # noqa: E402

BATCHES = (1, 1000)
SHARED = ROOT.parent / "shared" / "models"


def _digits_inputs(shape, n):
    x = np.load(ROOT / "examples" / "digits_inputs.npy")
    return np.resize(x, (n,) + x.shape[1:]).astype(np.float32)  # repeat the 300 bundled images


def _images(shape, n):
    # MNIST-like: pixel values k/255 in [0, 1]
    return (np.random.default_rng(0).integers(0, 256, (n,) + shape) / 255.0).astype(np.float32)


def _standardized(shape, n):
    # hls4ml jet features are standardized: mean 0, variance 1
    return np.random.default_rng(0).standard_normal((n,) + shape).astype(np.float32)


MODELS = [
    ("jettagging_qkeras_6b", SHARED / "jettagging_qkeras_6b.onnx", (16,), _standardized),
    ("tfc_2w2a", SHARED / "tfc_2w2a.onnx", (1, 28, 28), _images),
    ("digits_w4a4 (bundled)", ROOT / "examples" / "digits_w4a4.onnx", (64,), _digits_inputs),
]


# ---------------------------------------------------------------------------------------------- timing


class Timing:
    def __init__(self, seconds_per_call, reps, batch):
        self.call = seconds_per_call
        self.reps = reps
        self.batch = batch

    @property
    def per_sample_us(self):
        return self.call / self.batch * 1e6

    @property
    def throughput(self):
        return self.batch / self.call


def measure(fn, batch, target_s, slow_call_s):
    """Best (smallest) wall time of `fn()`: one warm-up call, then repeat until `target_s` has passed (at least 3
    times, at most 2000). The best call is the one least disturbed by other work on a shared machine. A warm-up
    slower than `slow_call_s` counts as the only measurement (noted as 1 call)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > slow_call_s:
        return Timing(first, 1, batch)
    samples = []
    start = time.perf_counter()
    while len(samples) < 3 or (time.perf_counter() - start < target_s and len(samples) < 2000):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return Timing(min(samples), len(samples), batch)


# ---------------------------------------------------------------------------------------------- engines


def bitsmith_runner(path, batch, x):
    """bitsmith runs the file as it is when its batch dimension allows; else a copy with the batch set."""
    model = bitsmith.load(str(path))
    name = model.inputs[0].name
    try:
        model.run({name: x[:1]}, mode="float")
        if batch != 1:
            model.run({name: x[:2]}, mode="float")
        note = None
    except bitsmith.InputError:
        model = bitsmith.load(with_batch(path, batch))
        note = f"batch dimension set to {batch} in a copy of the file"
    return model, name, note


def with_batch(path, batch):
    """The model's bytes with the first dimension of its data inputs and outputs set to `batch`."""
    proto = onnx.load(str(path))
    inits = {t.name for t in proto.graph.initializer}
    for vi in list(proto.graph.input) + list(proto.graph.output):
        if vi.name in inits:
            continue
        dims = vi.type.tensor_type.shape.dim
        if len(dims):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = batch
    del proto.graph.value_info[:]
    return proto.SerializeToString()


def ort_session(model_bytes, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # no warnings about unused initializers
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def bench_model(label, path, sample_shape, make_inputs, args, rows, agreements, notes):
    x_all = make_inputs(sample_shape, max(BATCHES))
    outputs = {}  # engine -> output at the largest batch, for the agreement check
    for batch in BATCHES:
        x = np.ascontiguousarray(x_all[:batch])

        def add(engine, fn, key=None):
            try:
                out = fn()  # also checks that it runs at all before timing
            except Exception as exc:  # report and go on: one broken engine must not hide the others
                notes.append(f"{label}, {engine}, batch {batch}: failed: {type(exc).__name__}: "
                             f"{(str(exc).splitlines() or [''])[0][:200]}")
                return
            if batch == max(BATCHES):
                outputs[key or engine] = np.asarray(out)
            t = measure(fn, batch, args.target_s, args.slow_call_s)
            rows.append((label, engine, batch, t))
            print(f"  {engine:15s} batch {batch:5d}: {t.per_sample_us:11.2f} us/sample  "
                  f"{t.throughput:12.1f} samples/s  ({t.reps} reps)", flush=True)

        try:
            model, name, note = bitsmith_runner(path, batch, x)
            if note:
                notes.append(f"{label}, bitsmith, batch {batch}: {note}")
            for mode in ("exact", "float"):
                add(f"bitsmith {mode}", lambda m=mode: next(iter(model.run({name: x}, mode=m).values())))
        except Exception as exc:
            notes.append(f"{label}, bitsmith, batch {batch}: failed: {type(exc).__name__}: "
                         f"{(str(exc).splitlines() or [''])[0][:200]}")

        qmodel = cleaned(path, batch)
        qin, qout = qmodel.graph.input[0].name, qmodel.graph.output[0].name
        add("qonnx", lambda: execute_onnx(qmodel, {qin: x})[qout])

        for key in ("float", "qcdq"):
            try:
                model_bytes, _, _ = to_onnxruntime_model(path, batch, (key,))
            except Exception as exc:
                if batch == BATCHES[0]:
                    notes.append(f"{label}, ort {RECIPES[key][0]}: not built: {type(exc).__name__}: "
                                 f"{(str(exc).splitlines() or [''])[0][:200]}")
                continue
            sess = ort_session(model_bytes, args.ort_threads)
            oin = sess.get_inputs()[0].name
            add(f"ort {key if key == 'float' else 'QCDQ'}", lambda s=sess, n=oin: s.run(None, {n: x})[0])

    ref = outputs.get("qonnx")
    for engine, out in outputs.items():
        if engine == "qonnx" or ref is None or out.shape != ref.shape:
            continue
        same = int(np.sum(out == ref))
        same_argmax = int(np.sum(out.argmax(-1) == ref.argmax(-1)))
        agreements.append((label, engine, same, out.size, same_argmax, out.shape[0]))


# ---------------------------------------------------------------------------------------------- report


def machine_info():
    cpu = cpu_model()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    from importlib.metadata import version

    versions = {
        "bitsmith": getattr(bitsmith, "__version__", "?"),
        "qonnx": version("qonnx"),
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    return cpu, usable, os.cpu_count(), versions


def ratio_rows(rows):
    """(model, batch, bitsmith mode, peer, bitsmith/peer throughput ratio)."""
    by_key = {(m, e, b): t for m, e, b, t in rows}
    out = []
    for m, e, b, t in rows:
        if not e.startswith("bitsmith"):
            continue
        for peer in ("qonnx", "ort float", "ort QCDQ"):
            p = by_key.get((m, peer, b))
            if p is not None:
                out.append((m, b, e.split()[1], peer, t.throughput / p.throughput))
    return out


def render(rows, agreements, notes, args, recipe_lines):
    cpu, usable, total, versions = machine_info()
    buf = io.StringIO()
    w = buf.write
    w("# Benchmarks: bitsmith reference engine vs qonnx and onnxruntime\n\n")
    w("Written by `bench/bench_reference.py`" + (" with `--quick`" if args.quick else "") + "; rerun it to refresh.\n\n")
    w(f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}\n")
    w(f"- CPU: {cpu}; {usable} usable of {total} logical cores; load average {args.load_before:.2f} before the run, "
      f"{os.getloadavg()[0]:.2f} after (above 0 means other work shared the cores: expect noise)\n")
    w("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "\n")
    w(f"- onnxruntime: CPU execution provider, {args.ort_threads} intra-op thread(s), default graph optimizations\n")
    w("- timing: best wall time of one call over repeated calls after one warm-up (at least 3 calls, about "
      f"{args.target_s:g} s per row; a call slower than {args.slow_call_s:g} s is timed once); latency = call time / "
      "batch\n")
    w("- inputs: jettagging: standard normal features; tfc: random pixels k/255; digits: the bundled test images "
      "(repeated to 1000)\n\n")
    w("How the peers run the models:\n\n")
    w("- qonnx: `qonnx.util.cleanup.cleanup_model(override_inpsize=batch)` then `qonnx.core.onnx_exec.execute_onnx`"
      " on the whole batch (the files fix batch 1; cleanup sets it)\n")
    for line in recipe_lines:
        w(f"- {line}\n")
    w("\nbitsmith's reference engine is the specification: plain portable kernels, every value exact in exact "
      "mode. It is meant to be right, not fast; optimized kernels are checked against it.\n")
    w("\n## Per-sample latency and throughput\n\n")
    w("| model | engine | batch | latency (us/sample) | throughput (samples/s) | calls timed |\n")
    w("| --- | --- | ---: | ---: | ---: | ---: |\n")
    for m, e, b, t in rows:
        w(f"| {m} | {e} | {b} | {t.per_sample_us:,.2f} | {t.throughput:,.0f} | {t.reps} |\n")
    w("\n## Throughput ratios bitsmith / peer (above 1: bitsmith is faster)\n\n")
    w("| model | batch | bitsmith mode | vs qonnx | vs ort float | vs ort QCDQ |\n")
    w("| --- | ---: | --- | ---: | ---: | ---: |\n")
    table = {}
    for m, b, mode, peer, r in ratio_rows(rows):
        table.setdefault((m, b, mode), {})[peer] = r
    for (m, b, mode), peers in table.items():
        cells = [f"{peers[p]:.3g}" if p in peers else "-" for p in ("qonnx", "ort float", "ort QCDQ")]
        w(f"| {m} | {b} | {mode} | " + " | ".join(cells) + " |\n")
    if agreements:
        w(f"\n## Agreement with qonnx's output at batch {max(BATCHES)}\n\n")
        w("qonnx's executor is the float32 reference here. bitsmith's float mode aims to match it; where an "
          "unquantized layer's float32 sums are rounded in a different order the last bits can differ. bitsmith's "
          "exact mode is not meant to match float32 results: it differs wherever float32 rounding shows.\n\n")
        w("| model | engine | identical output elements | identical argmax |\n| --- | --- | ---: | ---: |\n")
        for m, e, same, n, same_arg, rows_n in agreements:
            w(f"| {m} | {e} | {same} / {n} | {same_arg} / {rows_n} |\n")
    if notes:
        w("\n## Notes\n\n")
        for n in notes:
            w(f"- {n}\n")
    return buf.getvalue()


QAT_SECTION = "## QAT training step"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 0.2 s per row instead of 1 s")
    parser.add_argument("--markdown", default=str(ROOT / "docs" / "benchmarks.md"), help="where to write the table")
    parser.add_argument("--no-markdown", action="store_true", help="print only")
    parser.add_argument("--ort-threads", type=int, default=1,
                        help="onnxruntime intra-op threads (default 1, like bitsmith's single-threaded engine)")
    args = parser.parse_args()
    args.target_s = 0.2 if args.quick else 1.0
    args.slow_call_s = 2.0 if args.quick else 10.0

    args.load_before = os.getloadavg()[0]
    rows, agreements, notes = [], [], []
    used_recipes = set()
    for label, path, shape, make_inputs in MODELS:
        if not path.exists():
            msg = f"{label}: skipped, {os.path.relpath(path, ROOT)} not found"
            print(msg)
            notes.append(msg)
            continue
        print(f"{label} ({path.name})", flush=True)
        model_notes = []
        bench_model(label, path, shape, make_inputs, args, rows, agreements, model_notes)
        # file names, not this machine's absolute paths, in the committed table
        notes.extend(n.replace(str(path), path.name) for n in model_notes)
        used_recipes.update(e for m, e, b, t in rows if m == label and e.startswith("ort"))

    recipe_lines = []
    if "ort float" in used_recipes:
        recipe_lines.append("ort float: onnxruntime on the model after `cleanup_model(preserve_qnt_ops=False)` "
                            "(Quant on weights folded into float initializers), each activation Quant replaced by "
                            "Div(scale), Add(zero point), Clip(min, max), Round, Sub(zero point), Mul(scale): qonnx's "
                            "float32 formula in standard ops")
    if "ort QCDQ" in used_recipes:
        recipe_lines.append("ort QCDQ: onnxruntime on `qonnx.transformation.qonnx_to_qcdq.QuantToQCDQ` of the cleaned "
                            "model (QuantizeLinear/Clip/DequantizeLinear); onnxruntime fuses these into integer "
                            "kernels, which can round differently from qonnx (see the agreement table)")

    text = render(rows, agreements, notes, args, recipe_lines)
    print()
    print(text)
    if not args.no_markdown:
        out = Path(args.markdown)
        out.parent.mkdir(parents=True, exist_ok=True)
        # Other benchmarks own later "## ..." sections (bench_qat.py: "## QAT training
        # step"); keep them.
        old = out.read_text() if out.exists() else ""
        kept = old[old.index(QAT_SECTION):] if QAT_SECTION in old else ""
        out.write_text(text.rstrip("\n") + ("\n\n" + kept if kept else "\n"))
        print(f"wrote {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
