#!/usr/bin/env python3
"""Time bitsmith's code generation against hls4ml's, from a QONNX file to a running C simulation (issue 5, item 5).

Models: the jet tagger (engine_models.py), the Brevitas test zoo (tests/python/zoo.py; the ones hls4ml's QONNX front
accepts get an hls4ml column, the others a note with hls4ml's first error line) and a 161k-weight MLP (Brevitas
4-bit, 784-200-10), cached as QONNX files under build/bench-models/.

Per model, in one run, each step's wall time:
  hls4ml    prepare + convert (hls4ml_prep.py: qonnx cleanup, channels-last, convert_from_onnx_model), compile
            (hm.compile(): writes the project and builds its C-sim library), first predict (1 sample), predict on
            N samples. From scratch every time, in a temporary folder, in a child process (its own session) with a
            time limit; the peak RSS of that process and its compilers is sampled from /proc.
            whole = convert + compile + first predict.
  bitsmith  `bitsmith verify MODEL --target cpp|hls --input X.npy --json --keep DIR`: generate, build (the host
            compiler), run (the testbench on N samples, process start and file I/O included); whole = the three.
            `bitsmith compile` (generation alone, CLI start included) is timed too.
The same N inputs go to both (random normal x the input's scale; a zoo model's own `inputs`). Mismatches: verify
counts its own against the exact engine (must be 0); hls4ml's predict outputs are compared with
bitsmith.load(path).run(..., mode="exact") as float32 (values and argmax; channels-last layout handled).

Output: markdown on stdout and in build/bench-codegen.md, JSON in build/bench-codegen.json, and (full runs) the section
"Code generation vs hls4ml: results" of docs/benchmarks.md.
Run: .venv/bin/python bench/bench_codegen.py [--quick] [--models jet_6b,mlp_161k,zoo:linear_4bit,...]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "python"))

import engine_models as em  # noqa: E402
from hls4ml_prep import convert, hls4ml_input, prepare, quiet  # noqa: E402

QUICK_ZOO = ["linear_4bit", "linear_8bit", "conv_power_of_two"]
ZOO_CACHE = em.CACHE / "zoo"
MLP_KEY = "mlp_161k"
MLP_VERSION = 1
PREDICT_BUDGET_S = 60.0  # hls4ml predict is cut to fewer samples when N would take longer
TITLE = "Code generation vs hls4ml"


def first_line(text):
    lines = [ln for ln in str(text).splitlines() if ln.strip()]
    return (lines[0] if lines else "")[:200]


def exc_line(exc):
    return f"{type(exc).__name__}: {first_line(exc)}"


# ---------------------------------------------------------------------------------------------- models


def build_mlp():
    """Brevitas 4-bit MLP 784-200-10: 158,800 weights + 210 biases, the size hls4ml ran out of memory on."""
    import zoo

    qnn = zoo._brevitas()
    return zoo._Seq(qnn.QuantIdentity(bit_width=4, return_quant_tensor=True),
                    qnn.QuantLinear(784, 200, weight_bit_width=4, bias=True),
                    qnn.QuantReLU(bit_width=4, return_quant_tensor=True),
                    qnn.QuantLinear(200, 10, weight_bit_width=4, bias=True))


def mlp_spec():
    import zoo

    return zoo.ZooModel(MLP_KEY, build_mlp, (1, 784), ("linear",), input_scale=1.0)


def mlp_path():
    """The MLP exported with export_qonnx (zoo.export: calibrated, seeded) and cleaned by qonnx, cached."""
    import zoo
    from qonnx.util.cleanup import cleanup

    path = em.CACHE / f"{MLP_KEY}.v{MLP_VERSION}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    with quiet():
        zoo.export(mlp_spec(), str(tmp))
        cleanup(str(tmp), out_file=str(tmp))
    os.replace(tmp, path)
    return path


def model_entry(key, n):
    """(path, inputs of shape (n, ...)) of a model key: jet_6b, mlp_161k or zoo:NAME."""
    if key == "jet_6b":
        spec = em.SPECS_BY_KEY[key]
        return em.model_path(key), np.ascontiguousarray(spec.inputs(spec.shape, n), dtype=np.float32)
    if key == MLP_KEY:
        return mlp_path(), np.concatenate(mlp_spec().inputs(n, seed=0)).astype(np.float32)
    if key.startswith("zoo:"):
        import zoo

        name = key[4:]
        ZOO_CACHE.mkdir(parents=True, exist_ok=True)
        with quiet():
            path = Path(zoo.exported(name, str(ZOO_CACHE)))
        return path, np.concatenate(zoo.BY_NAME[name].inputs(n, seed=0)).astype(np.float32)
    raise KeyError(key)


def weight_count(path):
    """Elements of the initializers of rank >= 2 (weight matrices and kernels; scales and biases left out)."""
    import onnx

    m = onnx.load(str(path))
    return int(sum(np.prod(t.dims) for t in m.graph.initializer if len(t.dims) >= 2))


# ---------------------------------------------------------------------------------------------- processes


def _session_rss(sid):
    """Resident bytes of every process in session `sid` (the child and the compilers it starts)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(rest[3]) == sid:
            total += int(rest[21]) * page
    return total


MAX_RSS_GB = 12.0  # a compiler running out of memory must not wake the kernel's OOM killer on a shared machine


def run_limited(cmd, timeout, env=None):
    """Runs cmd in its own session with a time limit and a memory limit (MAX_RSS_GB over the whole session).
    Returns dict(rc, wall_s, peak_rss_mb, timed_out, out_of_memory, out, err); the peak RSS is the largest sum
    over the session's processes seen every 0.2 s."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)
    peak = [0]
    oom = [False]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            peak[0] = max(peak[0], _session_rss(p.pid))
            if peak[0] > MAX_RSS_GB * 2**30 and not oom[0]:
                oom[0] = True
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    timed_out = False
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        peak[0] = max(peak[0], _session_rss(p.pid))
        os.killpg(p.pid, 9)
        out, err = p.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    return dict(rc=p.returncode, wall_s=wall, peak_rss_mb=peak[0] / 2**20, timed_out=timed_out,
                out_of_memory=oom[0], out=out, err=err)


def bitsmith_cli():
    exe = Path(sys.executable).parent / "bitsmith"
    return str(exe) if exe.exists() else (shutil.which("bitsmith") or "bitsmith")


def ap_types_dir():
    try:
        import hls4ml

        return os.path.join(os.path.dirname(hls4ml.__file__), "templates", "vivado", "ap_types")
    except ImportError:
        return None


# ---------------------------------------------------------------------------------------------- hls4ml


def hls4ml_worker(path, x_file, out_dir, result_file, weights="txt"):
    """Child process: prepare + convert, compile, first predict, predict; writes the result JSON after every step
    (a killed child still tells how far it got) and the predictions as result_file + '.npy'. weights: "txt" (hls4ml's
    default: the C simulation reads them from text files) or "embedded" (compiled in)."""
    res = dict(step="convert")

    def save():
        Path(result_file).write_text(json.dumps(res))

    save()
    import hls4ml  # noqa: F401  (imported before the clock starts: the import is the same for every model)

    x = np.load(x_file)
    try:
        t0 = time.perf_counter()
        with quiet():
            hm = convert(prepare(path), out_dir, weights_txt=weights == "txt")
        res.update(convert_s=time.perf_counter() - t0, step="compile")
        save()
        t0 = time.perf_counter()
        with quiet():
            hm.compile()
        res.update(compile_s=time.perf_counter() - t0, step="predict")
        save()
        xh = hls4ml_input(hm, x)
        t0 = time.perf_counter()
        with quiet():
            hm.predict(np.ascontiguousarray(xh[:1]))
        first = time.perf_counter() - t0  # the C simulation reads its weights from text files on this call
        res.update(first_predict_s=first)
        t0 = time.perf_counter()
        with quiet():
            hm.predict(np.ascontiguousarray(xh[:10]))
        per = (time.perf_counter() - t0) / min(10, len(xh))
        n = len(xh) if per * len(xh) <= PREDICT_BUDGET_S else max(100, int(PREDICT_BUDGET_S / max(per, 1e-9)))
        n = min(n, len(xh))
        t0 = time.perf_counter()
        with quiet():
            y = hm.predict(np.ascontiguousarray(xh[:n]))
        res.update(predict_s=time.perf_counter() - t0, predict_n=n, step="done")
        np.save(result_file + ".npy", np.asarray(y, dtype=np.float32).reshape(n, -1))
    except Exception as exc:  # noqa: BLE001  (the parent records the first line)
        res.update(error=exc_line(exc))
    save()


def run_hls4ml(path, x_file, workdir, timeout, weights="txt"):
    result_file = str(workdir / f"hls4ml_{weights}.json")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--hls4ml-worker", str(path), str(x_file),
           str(workdir / f"hls4ml_{weights}_prj"), result_file, weights]
    r = run_limited(cmd, timeout)
    try:
        res = json.loads(Path(result_file).read_text())
    except (OSError, ValueError):
        res = dict(step="start")
    res.update(wall_s=r["wall_s"], peak_rss_mb=r["peak_rss_mb"])
    if r["out_of_memory"]:
        res["error"] = f"stopped at {MAX_RSS_GB:g} GiB resident after {r['wall_s']:.0f} s in {res['step']}"
    elif r["timed_out"]:
        res["error"] = f"timed out after {timeout:.0f} s in {res['step']}"
    elif r["rc"] != 0 and "error" not in res:
        res["error"] = f"exit {r['rc']}: {first_line(r['err'].strip().splitlines()[-1] if r['err'].strip() else '')}"
    if res.get("step") == "done":
        res["y"] = np.load(result_file + ".npy")
    return res


# ---------------------------------------------------------------------------------------------- bitsmith


def run_bitsmith(path, x_file, target, workdir, timeout):
    env = dict(os.environ)
    if target == "hls" and ap_types_dir() and "BITSMITH_AP_TYPES" not in env:
        env["BITSMITH_AP_TYPES"] = ap_types_dir()
    cli = bitsmith_cli()
    keep = workdir / f"verify_{target}"
    r = run_limited([cli, "verify", str(path), "--target", target, "--input", str(x_file), "--json", "--keep",
                     str(keep)], timeout, env)
    res = dict(wall_s=r["wall_s"], peak_rss_mb=r["peak_rss_mb"])
    if r["out_of_memory"]:
        res["error"] = f"stopped at {MAX_RSS_GB:g} GiB resident after {r['wall_s']:.0f} s"
        return res
    if r["timed_out"]:
        res["error"] = f"timed out after {timeout:.0f} s"
        return res
    try:
        j = json.loads(r["out"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        res["error"] = first_line(r["err"] or r["out"]) or f"exit {r['rc']}"
        return res
    s = j["seconds"]
    res.update(generate_s=s["generate"], build_s=s["build"], run_s=s["run"], samples=j["samples"],
               values=j["values"], mismatches=j["mismatches"], examples=j.get("examples", []))
    # The first result, timed as hls4ml's first predict is: the built testbench on one sample.
    exe = next(iter(sorted(keep.glob("*_tb"))), None)
    one = workdir / f"one_{target}.bin"
    np.load(x_file)[:1].astype(np.float32).tofile(one)
    t0 = time.perf_counter()
    ran = exe is not None and subprocess.run([str(exe), str(one), str(workdir / f"one_{target}_out.bin")],
                                             capture_output=True).returncode == 0
    res["first_s"] = time.perf_counter() - t0 if ran else None
    res["whole_s"] = s["generate"] + s["build"] + (res["first_s"] if ran else s["run"])
    c = run_limited([cli, "compile", str(path), "--target", target, "-o", str(workdir / f"compile_{target}")],
                    timeout, env)
    res["compile_cli_s"] = c["wall_s"] if c["rc"] == 0 else None
    if c["rc"] != 0:
        res["compile_error"] = first_line(c["err"])
    return res


def exact_reference(path, x):
    """bitsmith's exact outputs (float32), flattened per sample in hls4ml's channels-last order."""
    from bench_engine import bitsmith_runner

    y = np.asarray(bitsmith_runner(path, len(x), x)(), dtype=np.float32)
    if y.ndim == 4:
        y = y.transpose(0, 2, 3, 1)
    elif y.ndim == 3:
        y = y.transpose(0, 2, 1)
    return np.ascontiguousarray(y).reshape(len(x), -1)


# ---------------------------------------------------------------------------------------------- one model


def bench_model(key, args):
    print(f"{key}", flush=True)
    row = dict(model=key)
    try:
        path, x = model_entry(key, args.samples)
    except em.Unavailable as exc:
        row["skipped"] = str(exc)
        print(f"  {exc}", flush=True)
        return row
    except Exception as exc:  # noqa: BLE001
        row["skipped"] = f"not exported: {exc_line(exc)}"
        print(f"  {row['skipped']}", flush=True)
        return row
    row.update(file=str(os.path.relpath(path, ROOT)), weights=weight_count(path), samples=len(x))
    with tempfile.TemporaryDirectory(prefix="bench-codegen-") as tmp:
        work = Path(tmp)
        x_file = work / "inputs.npy"
        np.save(x_file, x)
        for target in ("cpp", "hls"):
            r = run_bitsmith(path, x_file, target, work, args.timeout)
            row[f"bitsmith {target}"] = r
            print(f"  bitsmith {target}: " + (r["error"] if "error" in r else
                  f"generate {r['generate_s']:.3f} s, build {r['build_s']:.2f} s, run {r['run_s']:.3f} s, "
                  f"whole {r['whole_s']:.2f} s, {r['mismatches']} mismatches"), flush=True)
        variants = [("hls4ml", "txt")] + ([("hls4ml embedded", "embedded")] if key in args.embedded else [])
        for tool, weights in variants if args.hls4ml else []:
            h = run_hls4ml(path, x_file, work, args.timeout, weights)
            if "y" in h:
                y = h.pop("y")
                try:
                    ref = exact_reference(path, x[: len(y)])
                    if ref.shape == y.shape:
                        h.update(diff_values=int(np.sum(ref != y)), values=int(ref.size),
                                 diff_argmax=int(np.sum(ref.argmax(1) != y.argmax(1))))
                    else:
                        h["compare_error"] = f"shapes {ref.shape} (bitsmith) vs {y.shape} (hls4ml)"
                except Exception as exc:  # noqa: BLE001
                    h["compare_error"] = exc_line(exc)
            if "compile_s" in h and "first_predict_s" in h:
                h["whole_s"] = h["convert_s"] + h["compile_s"] + h["first_predict_s"]
            row[tool] = h
            print(f"  {tool}: " + (h["error"] if "error" in h else
                  f"convert {h['convert_s']:.2f} s, compile {h['compile_s']:.1f} s, first predict "
                  f"{h['first_predict_s']:.3f} s, predict {h['predict_n']} in {h['predict_s']:.2f} s, "
                  f"{h.get('diff_values', '?')} values / {h.get('diff_argmax', '?')} argmax differ")
                  + f" (peak RSS {h['peak_rss_mb']:.0f} MB)", flush=True)
    return row


# ---------------------------------------------------------------------------------------------- report


def fmt_s(v):
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 1 else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def fmt_rate(v):
    if v is None:
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def ratio(a, b):
    return f"{a / b:.3g}x" if a is not None and b else "-"


def tool_cells(row, tool):
    """Generic view of one tool's result: steps (convert/generate, compile/build, first predict), whole, the
    simulation's samples and samples/s, peak RSS, mismatches (values, argmax) or the error."""
    r = row.get(tool)
    if r is None:
        return None
    if tool.startswith("hls4ml"):
        rate = r["predict_n"] / r["predict_s"] if r.get("predict_s") else None
        return dict(gen=r.get("convert_s"), build=r.get("compile_s"), first=r.get("first_predict_s"),
                    whole=r.get("whole_s"), n=r.get("predict_n"), rate=rate, cli=None, rss=r.get("peak_rss_mb"),
                    diff=r.get("diff_values"), values=r.get("values"), argmax=r.get("diff_argmax"),
                    error=r.get("error") or r.get("compare_error"))
    rate = r["samples"] / r["run_s"] if r.get("run_s") else None
    return dict(gen=r.get("generate_s"), build=r.get("build_s"), first=r.get("first_s"), whole=r.get("whole_s"),
                n=r.get("samples"), rate=rate, cli=r.get("compile_cli_s"), rss=r.get("peak_rss_mb"),
                diff=r.get("mismatches"), values=r.get("values"), argmax=None, error=r.get("error"))


TOOLS = ["hls4ml", "hls4ml embedded", "bitsmith cpp", "bitsmith hls"]
EMBEDDED_DEFAULT = "jet_6b,mlp_161k"


def targets(rows):
    res = []
    jet = next((r for r in rows if r["model"] == "jet_6b" and "skipped" not in r), None)
    for tool in TOOLS:
        c = tool_cells(jet, tool) if jet else None
        w = c["whole"] if c else None
        res.append(dict(target="jet tagger: QONNX -> running C-sim <= 1 s", tool=tool, value=fmt_s(w) + " s",
                        status="not measured" if w is None else ("met" if w <= 1.0 else "missed")))
    mlp = next((r for r in rows if r["model"] == MLP_KEY and "skipped" not in r), None)
    for tool in TOOLS:
        c = tool_cells(mlp, tool) if mlp else None
        if c is None:
            res.append(dict(target="161k-weight MLP compiles", tool=tool, value="-", status="not measured"))
            continue
        ok = c["error"] is None and c["whole"] is not None
        val = (f"whole {fmt_s(c['whole'])} s, peak RSS {c['rss']:.0f} MB" if ok else
               f"{c['error']}; peak RSS {c['rss']:.0f} MB")
        res.append(dict(target="161k-weight MLP compiles", tool=tool, value=val, status="met" if ok else "missed"))
    for tool in ("bitsmith cpp", "bitsmith hls"):
        cells = [tool_cells(r, tool) for r in rows if "skipped" not in r]
        ran = [c for c in cells if c and c["diff"] is not None]
        bad = sum(c["diff"] for c in ran)
        failed = sum(1 for c in cells if c and c["diff"] is None)
        res.append(dict(target="0 mismatches vs the exact engine", tool=tool,
                        value=f"{bad} in {len(ran)} models" + (f" ({failed} not run)" if failed else ""),
                        status="not measured" if not ran else ("met" if bad == 0 else "missed")))
    return res


def render(rows, info, args, tgts, notes):
    buf = io.StringIO()
    w = buf.write
    w(f"# {TITLE}\n\n")
    w("Written by `bench/bench_codegen.py`" + (" with `--quick`" if args.quick else "") + ".\n\n")
    w(f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}\n")
    w(f"- CPU: {info['cpu']}; {info['usable_cores']} usable of {info['logical_cores']} logical cores; load average "
      f"{args.load_before:.2f} before, {os.getloadavg()[0]:.2f} after (above 0: other work shared the cores)\n")
    w("- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + f"; compiler: {info['cxx']}\n")
    w(f"- samples: {args.samples} per model (hls4ml predicts fewer where {args.samples} would take over "
      f"{PREDICT_BUDGET_S:.0f} s: the samples column says how many); time limit {args.timeout:.0f} s per tool and "
      f"model, {MAX_RSS_GB:g} GiB resident memory per tool and model (compilers included)\n\n")
    w("Seconds (lower is better). hls4ml: convert = qonnx preparation + convert_from_onnx_model, build = "
      "hm.compile() (writes the project and builds the C-sim library), first / run = first predict (1 sample; "
      "hls4ml's C simulation reads its weights from text files on this call); whole = the three. hls4ml "
      "embedded: the same with write_weights_txt=False (weights compiled in, as for synthesis). bitsmith: convert = `bitsmith verify`'s generate, build = its host-compiler build, "
      "first / run = the built testbench on the first sample (process start and file I/O included) / on all "
      "samples; whole = convert + build + first, as for hls4ml. "
      "x whole = hls4ml's whole / this tool's. C-sim samples/s: hls4ml's predict, bitsmith's testbench run. "
      "compile = `bitsmith compile` alone (CLI start included). peak RSS: the tool's process and its compilers. "
      "mismatches: against bitsmith's exact engine (values; argmax for hls4ml, whose fixed-point types differ "
      "from the model's arithmetic: hls4ml keeps the quantizers' widths where the QONNX front infers them and "
      "uses the default fixed<16,6> elsewhere, so its values are not the model's).\n\n")
    head = ["model", "weights", "tool", "convert", "build", "first / run", "whole", "x whole", "samples",
            "C-sim samples/s", "compile", "peak RSS MB", "mismatches"]
    w("| " + " | ".join(head) + " |\n| --- | ---: | --- |" + " ---: |" * (len(head) - 3) + "\n")
    for row in rows:
        if "skipped" in row:
            continue
        ref = tool_cells(row, "hls4ml")
        for tool in TOOLS:
            c = tool_cells(row, tool)
            if c is None:
                continue
            if c["error"] and c["whole"] is None:
                err = str(c["error"]).replace("|", "/")
                err = err if len(err) <= 120 else err[:117] + "..."
                w(f"| {row['model']} | {row['weights']} | {tool} | {err} |" + " |" * (len(head) - 4) + "\n")
                continue
            if c["diff"] is None:
                mism = c["error"] or "-"
            elif tool.startswith("hls4ml"):
                mism = f"{c['diff']} / {c['values']} values, {c['argmax']} / {c['n']} argmax"
            else:
                mism = f"{c['diff']} / {c['values']}"
            xw = "-" if tool.startswith("hls4ml") or ref is None else ratio(ref["whole"], c["whole"])
            rss = "-" if c["rss"] is None else f"{c['rss']:.0f}"
            w(f"| {row['model']} | {row['weights']} | {tool} | {fmt_s(c['gen'])} | {fmt_s(c['build'])} | "
              f"{fmt_s(c['first']) if tool.startswith('hls4ml') else fmt_s(c['first']) + ' / ' + fmt_s(row[tool].get('run_s'))} | {fmt_s(c['whole'])} | {xw} | "
              f"{c['n'] or '-'} | {fmt_rate(c['rate'])} | {fmt_s(c['cli'])} | "
              f"{rss} | {mism} |\n")
    w("\n## Targets (issue 5)\n\n| target | tool | measured | status |\n| --- | --- | --- | --- |\n")
    for t in tgts:
        w(f"| {t['target']} | {t['tool']} | {t['value']} | {t['status']} |\n")
    refused = [(r, t) for r in rows for t in ("hls4ml", "hls4ml embedded")
               if "skipped" not in r and t in r and r[t].get("whole_s") is None]
    if refused:
        w("\n## hls4ml: models it did not turn into a running C simulation\n\n"
          "| model | tool | step | first error line |\n| --- | --- | --- | --- |\n")
        for r, t in refused:
            h = r[t]
            w(f"| {r['model']} | {t} | {h.get('step', '?')} | {str(h.get('error', '?')).replace('|', '/')} |\n")
    all_notes = list(notes) + [f"{r['model']}: {r['skipped']}" for r in rows if "skipped" in r]
    if all_notes:
        w("\n## Notes\n\n")
        for n in all_notes:
            w(f"- {n}\n")
    return buf.getvalue()


def machine_info():
    from bench_engine import machine_info as engine_info

    info = engine_info()
    cxx = os.environ.get("CXX") or "c++"
    try:
        info["cxx"] = first_line(subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout)
    except OSError:
        info["cxx"] = cxx
    return info


def write_docs(text):
    from bench_engine import write_docs_section

    write_docs_section(ROOT / "docs" / "benchmarks.md", text, title=TITLE)


def main(argv=None):
    if argv is None and len(sys.argv) in (6, 7) and sys.argv[1] == "--hls4ml-worker":
        hls4ml_worker(*sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: jet tagger + {', '.join(QUICK_ZOO)}, 1,000 samples, no docs section")
    parser.add_argument("--models", help="comma-separated: jet_6b, mlp_161k, zoo:NAME (default: all)")
    parser.add_argument("--samples", type=int, help="inputs per model (default 10,000; 1,000 with --quick)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per tool and model (default 600)")
    parser.add_argument("--embedded", default=EMBEDDED_DEFAULT,
                        help="models also run with hls4ml's weights compiled in, write_weights_txt=False "
                             f"(default {EMBEDDED_DEFAULT}; none with --quick)")
    parser.add_argument("--no-hls4ml", dest="hls4ml", action="store_false", help="bitsmith only")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench-codegen.md"), help="markdown output")
    args = parser.parse_args(argv)
    if args.samples is None:
        args.samples = 1000 if args.quick else 10000
    args.embedded = set() if args.quick and args.embedded == EMBEDDED_DEFAULT else set(args.embedded.split(","))
    if args.models:
        models = args.models.split(",")
    else:
        import zoo

        zoo_names = QUICK_ZOO if args.quick else [m.name for m in zoo.ZOO]
        models = ["jet_6b"] + ([] if args.quick else [MLP_KEY]) + [f"zoo:{n}" for n in zoo_names]
    if args.hls4ml:
        try:
            import hls4ml  # noqa: F401
        except ImportError:
            args.hls4ml = False
            print("hls4ml is not installed: its rows are skipped (pip install hls4ml==1.3.0)")
    args.load_before = os.getloadavg()[0]
    notes = []
    t0 = time.perf_counter()
    rows = [bench_model(key, args) for key in models]
    notes.append(f"whole run: {time.perf_counter() - t0:.0f} s")
    info = machine_info()
    tgts = targets(rows)
    text = render(rows, info, args, tgts, notes)
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if not args.quick and not args.models:
        write_docs(text)
    out.with_suffix(".json").write_text(json.dumps(
        dict(machine=info, quick=args.quick, samples=args.samples, timeout_s=args.timeout, rows=rows, targets=tgts,
             notes=notes), indent=1, default=float) + "\n")
    print(f"wrote {os.path.relpath(out, ROOT)} and {os.path.relpath(out.with_suffix('.json'), ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
