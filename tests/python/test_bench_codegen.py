"""Smoke test of the code generation benchmark (bench/bench_codegen.py): on the jet tagger (about 10 s with hls4ml,
200 samples) its table has a row per tool and bitsmith's generated code agrees with the exact engine; the table
writer and the targets are checked on made-up rows (no compiler needed)."""

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

bc = pytest.importorskip("bench_codegen")


def _cli_works():
    exe = Path(bc.bitsmith_cli())
    return (exe.exists() or shutil.which(str(exe))) and shutil.which("c++")


@pytest.mark.skipif(not _cli_works(), reason="needs the installed bitsmith CLI and a host C++ compiler")
def test_quick_run_on_jet_tagger(tmp_path):
    if not (bc.em.SHARED / "jettagging_qkeras_6b.onnx").exists() and not (bc.em.CACHE / "jet_6b.v1.onnx").exists():
        pytest.skip("the jet tagger is absent")
    out = tmp_path / "bench-codegen.md"
    assert bc.main(["--quick", "--models", "jet_6b", "--samples", "200", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    (row,) = data["rows"]
    for target in ("cpp", "hls"):
        r = row[f"bitsmith {target}"]
        assert "error" not in r, r
        assert r["samples"] == 200 and r["mismatches"] == 0
        # whole = generate + build + the first sample, as hls4ml's convert + compile + first predict
        assert r["first_s"] is not None and r["first_s"] < 5
        assert r["whole_s"] == pytest.approx(r["generate_s"] + r["build_s"] + r["first_s"])
    if "hls4ml" in row:  # absent when hls4ml is not installed
        h = row["hls4ml"]
        assert "error" not in h, h
        assert h["predict_n"] == 200 and h["values"] == 200 * 5
    text = out.read_text()
    assert "| jet_6b | 4256 | bitsmith cpp |" in text
    assert "0 mismatches vs the exact engine | bitsmith cpp | 0 in 1 models | met" in text


def _fake_rows():
    jet = {"model": "jet_6b", "weights": 4256, "samples": 10,
           "bitsmith cpp": dict(generate_s=0.05, build_s=0.5, first_s=0.005, run_s=0.01, whole_s=0.555,
                                samples=10, values=50,
                                mismatches=0, compile_cli_s=0.06, peak_rss_mb=60.0),
           "bitsmith hls": dict(generate_s=0.05, build_s=1.9, run_s=0.08, whole_s=2.03, samples=10, values=50,
                                mismatches=0, compile_cli_s=0.06, peak_rss_mb=180.0),
           "hls4ml": dict(step="done", convert_s=0.2, compile_s=5.0, first_predict_s=0.002, whole_s=5.202,
                          predict_s=0.01, predict_n=10, values=50, diff_values=50, diff_argmax=1,
                          peak_rss_mb=450.0)}
    mlp = {"model": bc.MLP_KEY, "weights": 158800, "samples": 10,
           "bitsmith cpp": dict(generate_s=0.1, build_s=3.0, run_s=0.1, whole_s=3.2, samples=10, values=100,
                                mismatches=0, compile_cli_s=0.2, peak_rss_mb=300.0),
           "bitsmith hls": dict(error="timed out after 600 s", peak_rss_mb=2000.0, wall_s=600.0),
           "hls4ml": dict(step="compile", convert_s=1.0, error="timed out after 600 s in compile",
                          peak_rss_mb=9000.0)}
    return [jet, mlp, {"model": "zoo:x", "skipped": "not exported: E: x"}]


def test_table_and_targets_from_rows():
    rows = _fake_rows()
    tgts = {(t["target"], t["tool"]): t for t in bc.targets(rows)}
    assert tgts[("jet tagger: QONNX -> running C-sim <= 1 s", "bitsmith cpp")]["status"] == "met"
    assert tgts[("jet tagger: QONNX -> running C-sim <= 1 s", "hls4ml")]["status"] == "missed"
    assert tgts[("161k-weight MLP compiles", "bitsmith cpp")]["status"] == "met"
    assert tgts[("161k-weight MLP compiles", "hls4ml")]["status"] == "missed"
    assert tgts[("0 mismatches vs the exact engine", "bitsmith hls")]["value"] == "0 in 1 models (1 not run)"

    class Args:
        quick, samples, timeout, load_before = False, 10, 600.0, 0.0

    info = dict(cpu="test CPU", usable_cores=2, logical_cores=2, versions={"bitsmith": "0"}, cxx="c++")
    text = bc.render(rows, info, Args, bc.targets(rows), ["whole run: 1 s"])
    assert text.startswith("# Code generation vs hls4ml\n")
    assert "| jet_6b | 4256 | bitsmith cpp | 0.050 | 0.500 | 0.005 / 0.010 | 0.555 | 9.37x | 10 |" in text
    assert "| mlp_161k | 158800 | hls4ml | timed out after 600 s in compile |" in text
    assert "| mlp_161k | hls4ml | compile | timed out after 600 s in compile |" in text  # the refused-models table
    assert "- zoo:x: not exported: E: x" in text


def test_docs_section_is_replaced(tmp_path):
    from bench_engine import write_docs_section

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Engine vs peers: results\n\nold engine\n\n## Code generation vs hls4ml: "
                   "results\n\nold codegen\n\n## Kernels\n\nkept\n")
    write_docs_section(doc, "# Code generation vs hls4ml\n\nnew\n\n## Targets (issue 5)\n\nt\n",
                       title=bc.TITLE)
    new = doc.read_text()
    assert "old codegen" not in new and "old engine" in new and "## Kernels\n\nkept" in new
    assert "## Code generation vs hls4ml: results\n\nnew\n\n### Targets (issue 5)" in new
