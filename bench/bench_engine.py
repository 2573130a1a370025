#!/usr/bin/env python3
"""Time bitsmith's engines against their peers on quantized models from the field (issue 4, item 4).

Models: bench/engine_models.py (jet tagger, TFC and CNV w1a1/w2a2, ResNet-8 w4a4, MobileNet-v1 w4a4), cached as
QONNX files under build/bench-models/. Each model runs at batch 1 and at a large batch (4096 for the jet tagger and
TFC, 256 for CNV and ResNet-8, 32 for MobileNet), with 1 and 2 threads. Runners:
  bitsmith fast  bitsmith.load(path, engine="fast", threads=N), exact mode (when the installed bitsmith has it)
  bitsmith ref   the reference engine (bitsmith.load(path) or engine="reference"), exact mode, 1 thread
  ORT float      onnxruntime on the float version of the model (engine_models.float_model)
  ORT QDQ        onnxruntime on the QDQ int8 version (engine_models.qdq_model), where every width is <= 8 bits
  Brevitas       the PyTorch module in eval mode (fake quantization), torch.set_num_threads(N)
  qonnx          qonnx.core.onnx_exec.execute_onnx, batch 1 only (it is slow)
  hls4ml         hls4ml's compiled C simulation (convert_from_onnx_model, compile, predict), 1 thread
Every runner is timed the same way: one warm-up call, then repeated calls for about --target-s seconds (at least 3),
and the median call time gives samples/s. A runner whose warm-up call is slow is timed on fewer calls (a warm-up
over half of --max-row-s is the only measurement); a large batch whose estimated call time (batch-1 time x batch)
is over --max-call-s is skipped with a note.

Output: a markdown table (stdout and build/bench-engine.md) and a JSON file next to it (build/bench-engine.json).
Run: .venv/bin/python bench/bench_engine.py [--quick] [--models a,b] [--hls4ml-all]
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import io
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")  # qonnx and Brevitas warn about deprecated helpers on every call

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import engine_models as em  # noqa: E402
from hls4ml_prep import hls4ml_input, hls4ml_model  # noqa: E402
import onnxruntime as ort  # noqa: E402
from machine import cpu_model  # noqa: E402

import bitsmith  # noqa: E402

RUNNERS = ["bitsmith fast", "bitsmith ref", "ORT float", "ORT QDQ", "Brevitas", "qonnx", "hls4ml"]
PEERS = ["ORT best", "Brevitas", "qonnx", "hls4ml"]
QUICK_MODELS = ["jet_6b", "tfc_w2a2"]
# hls4ml's io_parallel C simulation of a conv net compiles for many minutes; only dense models by default
HLS4ML_DEFAULT = {"jet_6b", "tfc_w1a1", "tfc_w2a2"}
# what a trial (hls4ml 1.3.0, 2 cores) gave for the others
HLS4ML_SKIPPED = {
    "cnv_w1a1": "converts (in about 40 s) but its io_parallel C simulation compiles for many minutes",
    "cnv_w2a2": "converts (in about 40 s) but its io_parallel C simulation compiles for many minutes",
    "resnet8_w4a4": "its front stops at 'Please convert the model to channels-last format' even after qonnx's "
                    "channels-last conversion",
    "mobilenet_v1_w4a4": "its front stops at 'Please convert the model to channels-last format' after about 6 "
                         "minutes in qonnx's channels-last conversion",
}


def first_line(exc):
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:180]}"


# ---------------------------------------------------------------------------------------------- timing


def measure(fn, target_s, max_row_s):
    """(median seconds per call, calls timed, output of the warm-up call) after one warm-up call, which also
    checks that the runner runs and gives its output for the agreement table."""
    t0 = time.perf_counter()
    out = np.asarray(fn())
    warm = time.perf_counter() - t0
    if warm > max_row_s / 2:
        return warm, 0, out  # 0 calls: the warm-up is the only measurement
    samples = []
    start = time.perf_counter()
    while len(samples) < 3 or (time.perf_counter() - start < target_s and len(samples) < 1000):
        if time.perf_counter() - start + warm > max_row_s:
            break
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), len(samples), out


# ---------------------------------------------------------------------------------------------- runners


def bitsmith_features():
    """Which keyword arguments the installed bitsmith.load takes (the fast engine arrives with `engine`)."""
    params = inspect.signature(bitsmith.load).parameters
    return "engine" in params, "threads" in params


def bitsmith_runner(path, batch, x, engine=None, threads=None):
    """A call that runs bitsmith in exact mode on x; the file as it is when its batch dimension allows, else a
    copy with the batch set."""
    has_engine, has_threads = bitsmith_features()
    kwargs = {}
    if engine is not None and has_engine:
        kwargs["engine"] = engine
    if threads is not None and has_threads:
        kwargs["threads"] = threads
    model = bitsmith.load(str(path), **kwargs)
    name = model.inputs[0].name
    try:
        model.run({name: x[:1]}, mode="exact")
        if batch > 1:
            model.run({name: x[:2]}, mode="exact")
    except bitsmith.InputError:
        model = bitsmith.load(em.with_batch(path, batch).model.SerializeToString(), **kwargs)
        name = model.inputs[0].name
    out = model.outputs[0].name
    return lambda: model.run({name: x}, mode="exact")[out]


def ort_session(proto, threads):
    """onnxruntime's fastest CPU setting here: every graph optimization (QDQ fusion into integer kernels included),
    sequential execution, `threads` intra-op threads, no spinning threads left behind between calls."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def ort_runner(proto, threads, x):
    sess = ort_session(proto, threads)
    name = sess.get_inputs()[0].name
    return lambda: sess.run(None, {name: x})[0]


def torch_runner(module, threads, x):
    import torch

    xt = torch.from_numpy(x)

    def run():
        torch.set_num_threads(threads)
        with torch.no_grad():
            return module(xt).detach().numpy()

    return run


def qonnx_runner(path, batch, x):
    from qonnx.core.onnx_exec import execute_onnx

    model = em.with_batch(path, batch)
    qin, qout = model.graph.input[0].name, model.graph.output[0].name
    return lambda: execute_onnx(model, {qin: x})[qout]


# ---------------------------------------------------------------------------------------------- one model


class Bench:
    def __init__(self, args):
        self.args = args
        self.rows = []  # dicts: model, batch, threads, runner, samples_per_s, call_s, calls
        self.notes = []
        self.agreement = []  # dicts: model, batch, runner, same_argmax, n, same_values, size
        self.has_engine, self.has_threads = bitsmith_features()

    def note(self, msg):
        print(f"  note: {msg}", flush=True)
        self.notes.append(msg)

    def run_model(self, key):
        spec = em.SPECS_BY_KEY[key]
        args = self.args
        try:
            path = em.model_path(key)
        except em.Unavailable as exc:
            print(str(exc))
            self.notes.append(str(exc))
            return
        print(f"{key} ({path.name})", flush=True)
        width = em.max_width(path)
        module = None
        if spec.torch_builder is not None:
            with em._quiet():
                module = em.torch_module(key)
        hm = None
        if "hls4ml" in args.runners and (key in HLS4ML_DEFAULT or args.hls4ml_all):
            try:
                hm, compiled = hls4ml_model(key, path, may_compile=not args.quick)
                if compiled:
                    self.note(f"{key}: hls4ml project compiled, cached under build/bench-models/hls4ml/")
            except Exception as exc:
                self.note(f"{key}, hls4ml: not built: {first_line(exc)}")
        elif "hls4ml" in args.runners:
            self.note(f"{key}, hls4ml: skipped, {HLS4ML_SKIPPED.get(key, 'not tried by default')} "
                      "(--hls4ml-all tries it)")

        batch1 = {}  # (runner, threads) -> seconds per call at batch 1, to skip hopeless large batches
        x_all = spec.inputs(spec.shape, spec.big_batch)
        for batch in (1, spec.big_batch):
            x = np.ascontiguousarray(x_all[:batch])
            outputs = {}
            protos = {}
            for kind, build in (("ORT float", em.float_model), ("ORT QDQ", em.qdq_model)):
                if kind not in args.runners:
                    continue
                if kind == "ORT QDQ" and width > 8:
                    if batch == 1:
                        self.note(f"{key}, ORT QDQ: not run, widths up to {width} bits")
                    continue
                try:
                    protos[kind] = build(path, batch)
                except Exception as exc:
                    if batch == 1:
                        self.note(f"{key}, {kind}: not built: {first_line(exc)}")
            for threads in args.threads:
                plan = []  # (runner, make): make(xx) returns a call that runs the runner on xx
                if self.has_engine:
                    plan.append(("bitsmith fast", lambda xx, t=threads: bitsmith_runner(path, len(xx), xx, "fast", t)))
                if threads == 1 or (not self.has_engine and self.has_threads):
                    plan.append(("bitsmith ref",
                                 lambda xx, t=threads: bitsmith_runner(path, len(xx), xx, "reference", t)))
                for kind, proto in protos.items():
                    plan.append((kind, lambda xx, p=proto, t=threads: ort_runner(p, t, xx)))
                if module is not None:
                    plan.append(("Brevitas", lambda xx, t=threads: torch_runner(module, t, xx)))
                if batch == 1 and threads == 1:
                    plan.append(("qonnx", lambda xx: qonnx_runner(path, len(xx), xx)))
                if hm is not None and threads == 1:
                    plan.append(("hls4ml", lambda xx: (lambda xh=hls4ml_input(hm, xx): hm.predict(xh))))
                for runner, make in plan:
                    if runner not in args.runners:
                        continue
                    est = self.estimate(runner, make, batch, x, batch1.get((runner, threads)))
                    if est is not None and est > args.max_call_s:
                        self.note(f"{key}, {runner}, batch {batch}, {threads} thread(s): skipped, about "
                                  f"{est:.0f} s per call (estimated from a smaller batch)")
                        continue
                    try:
                        call_s, calls, out = measure(make(x), args.target_s, args.max_row_s)
                    except Exception as exc:  # one broken runner must not hide the others
                        self.note(f"{key}, {runner}, batch {batch}, {threads} thread(s): failed: {first_line(exc)}")
                        continue
                    if batch == 1:
                        batch1[(runner, threads)] = call_s
                    outputs.setdefault(runner, out)
                    rate = batch / call_s
                    self.rows.append(dict(model=key, batch=batch, threads=threads, runner=runner,
                                          samples_per_s=rate, call_s=call_s, calls=calls))
                    print(f"  batch {batch:5d} threads {threads}  {runner:13s} {fmt_rate(rate):>9s} samples/s "
                          f"({call_s * 1e3:.3f} ms/call, {calls or 'warm-up only'} calls)", flush=True)
            self.compare(key, batch, outputs)

    PROBE = 32

    def estimate(self, runner, make, batch, x, one):
        """Seconds per call at `batch`, estimated when batch 1 was slow: batch-1 time x batch, and where that is
        over the limit and the runner takes any batch, the time of a batch of PROBE scaled up (per-call overhead
        dominates at batch 1). None: no estimate needed."""
        if batch == 1 or one is None or one * batch <= self.args.max_call_s:
            return None
        if runner.startswith("ORT") or batch <= self.PROBE:
            return one * batch
        try:
            fn = make(np.ascontiguousarray(x[: self.PROBE]))
            fn()
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * batch / self.PROBE
        except Exception:
            return one * batch

    def compare(self, key, batch, outputs):
        """Each runner's output against bitsmith's exact output (the specification), same inputs: identical
        values and identical argmax. Float runners may differ where a float32 rounding crosses a level."""
        ref_name = next((r for r in ("bitsmith ref", "bitsmith fast") if r in outputs), None)
        if ref_name is None:
            return
        ref = outputs[ref_name].reshape(outputs[ref_name].shape[0], -1)
        for runner, out in outputs.items():
            if runner == ref_name:
                continue
            out = out.reshape(out.shape[0], -1)
            if out.shape != ref.shape:
                continue
            self.agreement.append(dict(model=key, batch=batch, runner=runner, reference=ref_name,
                                       same_argmax=int(np.sum(out.argmax(1) == ref.argmax(1))), n=ref.shape[0],
                                       same_values=int(np.sum(out == ref)), size=int(ref.size)))


# ---------------------------------------------------------------------------------------------- report


def fmt_rate(r):
    if r is None:
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if r >= div:
            return f"{r / div:.3g}{suffix}"
    return f"{r:.3g}"


def table(rows):
    """{(model, batch, threads): {runner: samples/s}}, plus "ORT best" and "bitsmith" (fast if present, else ref)."""
    out = {}
    for r in rows:
        out.setdefault((r["model"], r["batch"], r["threads"]), {})[r["runner"]] = r["samples_per_s"]
    for cells in out.values():
        ort_rates = [cells[k] for k in ("ORT float", "ORT QDQ") if k in cells]
        if ort_rates:
            cells["ORT best"] = max(ort_rates)
        own = cells.get("bitsmith fast", cells.get("bitsmith ref"))
        if own is not None:
            cells["bitsmith"] = own
    return out


def targets(cells_by_cfg):
    """The issue's targets, each with the measured value and met/missed. Ratio targets are checked at every
    (batch, threads) configuration measured; the row shows the lowest."""
    res = []

    def absolute(model, batch, threads, need, what):
        cells = cells_by_cfg.get((model, batch, threads), {})
        got = cells.get("bitsmith")
        res.append(dict(target=f"{what} >= {fmt_rate(need)} samples/s", model=model,
                        config=f"batch {batch}, {threads} threads", value=fmt_rate(got),
                        status="not measured" if got is None else ("met" if got >= need else "missed")))

    absolute("jet_6b", 4096, 2, 20e6, "jet tagger")
    absolute("tfc_w1a1", 4096, 2, 1e6, "TFC")
    absolute("tfc_w2a2", 4096, 2, 1e6, "TFC")
    absolute("cnv_w1a1", 256, 2, 3000, "CNV-w1a1")

    def ratio(model, peer, need, what):
        worst = None
        for (m, b, t), cells in cells_by_cfg.items():
            if m != model or "bitsmith" not in cells or peer not in cells:
                continue
            r = cells["bitsmith"] / cells[peer]
            if worst is None or r < worst[0]:
                worst = (r, b, t)
        res.append(dict(target=f"{what}: bitsmith / {peer} >= {need:g}x", model=model,
                        config="-" if worst is None else f"lowest at batch {worst[1]}, {worst[2]} threads",
                        value="-" if worst is None else f"{worst[0]:.3g}x",
                        status="not measured" if worst is None else ("met" if worst[0] >= need else "missed")))

    models = sorted({m for m, _, _ in cells_by_cfg}, key=lambda k: [s.key for s in em.SPECS].index(k))
    for m in models:
        bits = em.SPECS_BY_KEY[m].bits
        if bits <= 4:
            ratio(m, "ORT best", 3, "<= 4-bit model")
        elif bits <= 8:
            ratio(m, "ORT best", 1.5, "8-bit model")
    for m in models:
        if any("hls4ml" in c for (mm, _, _), c in cells_by_cfg.items() if mm == m):
            ratio(m, "hls4ml", 100, "hls4ml C simulation")
    return res


def machine_info():
    from importlib.metadata import PackageNotFoundError, version

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = {"bitsmith": getattr(bitsmith, "__version__", "?"), "python": platform.python_version()}
    for pkg in ("onnxruntime", "torch", "brevitas", "qonnx", "hls4ml", "numpy"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "absent"
    return dict(cpu=cpu_model(), usable_cores=usable, logical_cores=os.cpu_count(), versions=versions)


def render(bench, info, args, tgts):
    cells_by_cfg = table(bench.rows)
    present = [r for r in RUNNERS if any(r in c for c in cells_by_cfg.values())]
    peers = [p for p in PEERS if any(p in c for c in cells_by_cfg.values())]
    buf = io.StringIO()
    w = buf.write
    w("# Engine vs peers\n\n")
    w("Written by `bench/bench_engine.py`" + (" with `--quick`" if args.quick else "") + ".\n\n")
    w(f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}\n")
    w(f"- CPU: {info['cpu']}; {info['usable_cores']} usable of {info['logical_cores']} logical cores; load average "
      f"{args.load_before:.2f} before, {os.getloadavg()[0]:.2f} after (above 0: other work shared the cores)\n")
    w("- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + "\n")
    eng = ("bitsmith.load(path, engine=..., threads=N)" if bench.has_engine else
           "bitsmith.load(path) (no `engine` parameter yet: the reference engine only)")
    w(f"- bitsmith: {eng}, exact mode\n")
    w(f"- timing: one warm-up call, then the median of repeated calls (about {args.target_s:g} s per cell, at least "
      "3 calls); samples/s = batch / median call time\n\n")
    w("Samples per second (higher is better); the ratio columns are bitsmith / peer, where bitsmith is the fast "
      "engine when present, else the reference engine. ORT best = the faster of ORT float and ORT QDQ.\n\n")
    head = ["model", "batch", "threads"] + present + [f"x {p}" for p in peers]
    w("| " + " | ".join(head) + " |\n")
    w("| --- | ---: | ---: |" + " ---: |" * (len(head) - 3) + "\n")
    for (m, b, t), cells in cells_by_cfg.items():
        vals = [fmt_rate(cells.get(r)) for r in present]
        own = cells.get("bitsmith")
        ratios = [f"{own / cells[p]:.3g}" if own is not None and p in cells else "-" for p in peers]
        w(f"| {m} | {b} | {t} | " + " | ".join(vals + ratios) + " |\n")
    w("\n## Targets (issue 4)\n\n| target | model | configuration | measured | status |\n")
    w("| --- | --- | --- | ---: | --- |\n")
    for t in tgts:
        w(f"| {t['target']} | {t['model']} | {t['config']} | {t['value']} | {t['status']} |\n")
    if bench.agreement:
        w("\n## Same model everywhere: agreement with bitsmith's exact output\n\n")
        w("Same inputs, each runner at the largest batch it ran (every batch is in the JSON).\n\n")
        w("| model | batch | runner | same argmax | identical values |\n| --- | ---: | --- | ---: | ---: |\n")
        largest = {}
        for a in bench.agreement:
            largest[(a["model"], a["runner"])] = a  # batches run in increasing order
        for a in largest.values():
            w(f"| {a['model']} | {a['batch']} | {a['runner']} | {a['same_argmax']} / {a['n']} | "
              f"{a['same_values']} / {a['size']} |\n")
    if bench.notes:
        w("\n## Notes\n\n")
        for n in bench.notes:
            w(f"- {n}\n")
    return buf.getvalue()


def write_docs_section(path: Path, text: str, title: str = "Engine vs peers") -> None:
    """Replaces docs/benchmarks.md's section "<title>: results" (up to the next '## ' heading) with this run, whose
    text starts with "# <title>" (bench_codegen.py writes its own section with it)."""
    section = f"## {title}: results"
    body = text.replace(f"# {title}", section, 1)
    body = body.replace("\n## ", "\n### ").replace(f"### {title}: results", section, 1)
    old = path.read_text() if path.exists() else ""
    start = old.find(section)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + body
    else:
        nxt = old.find("\n## ", start + len(section))
        new = old[:start] + body.rstrip("\n") + "\n" + (old[nxt:] if nxt >= 0 else "")
    path.write_text(new.rstrip("\n") + "\n")
    print(f"wrote the results section to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: {', '.join(QUICK_MODELS)}, short timings, hls4ml only if cached")
    parser.add_argument("--models", help="comma-separated model keys (default: all; see engine_models.py)")
    parser.add_argument("--runners", help="comma-separated runners (default: all): " + ", ".join(RUNNERS))
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument("--hls4ml-all", action="store_true", help="also try hls4ml on the conv nets (slow compile)")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench-engine.md"), help="markdown output")
    args = parser.parse_args(argv)
    args.target_s = 0.1 if args.quick else 0.5
    args.max_row_s = 3.0 if args.quick else 16.0
    args.max_call_s = 2.0 if args.quick else 20.0
    args.threads = [int(t) for t in args.threads.split(",")]
    args.runners = set(args.runners.split(",")) if args.runners else set(RUNNERS)
    models = args.models.split(",") if args.models else (QUICK_MODELS if args.quick else [s.key for s in em.SPECS])
    try:
        import hls4ml  # noqa: F401
    except ImportError:
        args.runners.discard("hls4ml")
        print("hls4ml is not installed: its column is skipped (pip install hls4ml==1.3.0, deps/requirements.txt)")
    args.load_before = os.getloadavg()[0]

    bench = Bench(args)
    if not bench.has_engine:
        bench.notes.append("bitsmith.load has no `engine` parameter here: only the reference engine is timed")
    t0 = time.perf_counter()
    for key in models:
        if key not in em.SPECS_BY_KEY:
            parser.error(f"unknown model {key}; known: {', '.join(em.SPECS_BY_KEY)}")
        bench.run_model(key)
    bench.notes.append(f"whole run: {time.perf_counter() - t0:.0f} s")

    info = machine_info()
    tgts = targets(table(bench.rows))
    text = render(bench, info, args, tgts)
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if not args.quick:
        write_docs_section(ROOT / "docs" / "benchmarks.md", text)
    out.with_suffix(".json").write_text(json.dumps(
        dict(machine=info, quick=args.quick, target_s=args.target_s, rows=bench.rows, targets=tgts,
             agreement=bench.agreement, notes=bench.notes), indent=1) + "\n")
    print(f"wrote {os.path.relpath(out, ROOT)} and {os.path.relpath(out.with_suffix('.json'), ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
