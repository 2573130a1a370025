"""`bitsmith estimate` on the shared hls4ml jet tagger: the JSON is complete and
self-consistent (totals are the sums of the steps), the options act as documented
(reuse factor, input width, requantization form, host steps, Softmax cut) and the
hls4ml-like setting stays in the range of the published hls4ml figure it is
calibrated against (docs/estimate.md)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import zoo
from test_qonnx_diff import zoo_dir  # noqa: F401 (fixture)

REPO = pathlib.Path(__file__).resolve().parents[2]
JET = REPO.parent / "shared" / "models" / "jettagging_qkeras_6b.onnx"


def find_cli():
    """The first bitsmith binary that has the estimate subcommand (test_cli.py's order)."""
    candidates = [
        os.environ.get("BITSMITH_CLI"),
        pathlib.Path(sys.executable).parent / "bitsmith",
        REPO / "build" / "py" / "bitsmith",
        shutil.which("bitsmith"),
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK) and not os.path.isdir(c):
            r = subprocess.run([str(c), "estimate", "--help"], capture_output=True, text=True, timeout=60)
            if r.returncode == 0:
                return str(c)
    return None


CLI = find_cli()
pytestmark = [
    pytest.mark.skipif(CLI is None, reason="no bitsmith CLI with `estimate` is built (set BITSMITH_CLI)"),
    pytest.mark.skipif(not JET.is_file(), reason=f"{JET} is absent (a user's clone has no ../shared)"),
]


def cli(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=120)


def estimate(*options):
    r = cli("estimate", JET, "--json", *options)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


RESOURCES = ("lut", "ff", "dsp", "bram18")


def test_json_is_complete_and_consistent():
    e = estimate()
    assert e["target"] == "hls"
    assert e["options"] == {"reuse_factor": 1, "io": "parallel", "strategy": "latency", "clock_ns": 5,
                            "input_bits": 0, "requant": "comparators", "host_steps": False}
    kinds = [s["kind"] for s in e["steps"]]
    assert kinds == ["input-fixed", "dense", "dense", "dense", "dense", "dequantize", "softmax"]
    # As the hls target splits the program: float32 conversions on the host, free.
    assert [s["host"] for s in e["steps"]] == [True, False, False, False, False, True, True]
    assert all(s[k] == 0 for s in e["steps"] if s["host"] for k in RESOURCES)
    for key in RESOURCES:
        assert e["total"][key] == sum(s[key] for s in e["steps"]), key
        assert all(s[key] >= 0 for s in e["steps"])
    assert e["total"]["latency"] == sum(s["latency"] for s in e["steps"])
    assert e["total"]["latency_ns"] == e["total"]["latency"] * 5
    assert e["total"]["ii"] == 1
    dense = [s for s in e["steps"] if s["kind"] == "dense"]
    # 16 -> 64 -> 32 -> 32 -> 5: products and zeros cover every weight.
    sizes = [16 * 64, 64 * 32, 32 * 32, 32 * 5]
    for s, size in zip(dense, sizes):
        d = s["detail"]
        assert d["products"] + d["zero_weights"] == size
        assert d["shift_weights"] + d["const_mults"] + d["dsp_mults"] == d["products"]
        assert d["out_bits"] <= d["acc_bits"]
    # 6-bit hidden activations: 63 thresholds per channel, as emitted one comparator
    # each; evenly spaced by a power of two, so a shift would do (the note says so).
    assert [s["detail"]["in_bits"] for s in dense[1:]] == [6, 6, 6]
    assert dense[1]["detail"]["requant"] == "comparators"
    assert dense[1]["detail"]["comparators"] == 32 * 63
    assert any("--requant best" in n for n in e["notes"])
    best = estimate("--requant", "best")
    assert best["steps"][2]["detail"]["requant"] == "shift"
    assert best["total"]["lut"] < e["total"]["lut"]


def test_host_steps():
    e = estimate("--host-steps")
    assert not any(s["host"] for s in e["steps"])
    fixed, dequantize, softmax = e["steps"][0], e["steps"][5], e["steps"][6]
    assert fixed["lut"] > 0 and dequantize["lut"] > 0
    assert softmax["dsp"] == 5 and softmax["bram18"] > 0  # hls4ml's table softmax
    assert e["total"]["lut"] > estimate()["total"]["lut"]


def test_input_bits_narrow_the_first_layer():
    wide, narrow = estimate(), estimate("--input-bits", 16)
    assert wide["steps"][1]["detail"]["in_bits"] == 55  # float32 read exactly: |q| <= 2^53
    assert narrow["steps"][1]["detail"]["in_bits"] == 16
    assert narrow["steps"][0]["lut"] == 0  # fixed-point inputs need no conversion
    assert narrow["total"]["lut"] < wide["total"]["lut"]
    # Later layers do not see the input width.
    assert narrow["steps"][2] == wide["steps"][2]


def test_reuse_factor():
    previous = None
    for r in (1, 2, 4, 8, 32):
        e = estimate("--input-bits", 16, "--reuse", r, "--strategy", "resource", "--cut-float-tail")
        mult = {k: sum(s["detail"]["mult"][k] for s in e["steps"]) for k in ("lut", "dsp")}
        assert e["total"]["ii"] == r
        if previous:
            assert mult["lut"] <= previous["lut"] and mult["dsp"] <= previous["dsp"], r
        previous = mult


def test_cut_float_tail_and_stream():
    e = estimate("--cut-float-tail")
    assert [s["kind"] for s in e["steps"]][-1] == "dequantize"
    assert any("Softmax" in n and "left out" in n for n in e["notes"])
    assert e["total"]["dsp"] == 0 and e["total"]["bram18"] == 0
    assert estimate("--cut-float-tail", "--host-steps")["total"]["dsp"] == 0
    s = estimate("--io", "stream", "--clock", "2.5")
    assert s["options"]["io"] == "stream" and s["options"]["clock_ns"] == 2.5
    assert s["total"]["latency_ns"] == s["total"]["latency"] * 2.5


def test_near_the_published_hls4ml_figure():
    """hls4ml's 6-bit jet tagger: 63,251 LUT, 38 DSP at 45 ns (16-bit inputs). The
    model is first order: this guards its calibration, not its precision."""
    e = estimate("--input-bits", 16, "--requant", "best", "--host-steps")
    assert 63251 / 2 < e["total"]["lut"] < 63251 * 2
    assert e["total"]["dsp"] < 100
    assert 20 <= e["total"]["latency_ns"] <= 150


def test_text_table_and_usage_errors():
    r = cli("estimate", JET)
    assert r.returncode == 0
    assert r.stdout.startswith("estimate for ")
    assert "total" in r.stdout and "MatMul_0" in r.stdout and "cycles" in r.stdout
    for bad in (["--reuse", "0"], ["--target", "cpp"], ["--io", "serial"], ["--strategy", "fast"],
                ["--clock", "-1"], ["--input-bits", "1"], ["--requant", "lut"], ["--bogus"]):
        r = cli("estimate", JET, *bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stdout == ""
    r = cli("estimate", REPO / "no_such_model.onnx")
    assert r.returncode == 1 and r.stderr.startswith("bitsmith: ")


NEW_KINDS = {"linear_16bit": {"requant"}, "trunc_avgpool": {"sumpool", "threshold"},
             "concat": {"scale", "concat"}, "conv_transpose": {"convtranspose", "threshold"}}


@pytest.mark.parametrize("name", sorted(NEW_KINDS))
def test_zoo_models_with_the_new_step_kinds(name, zoo_dir):
    """Models that lower to IntRequant, IntThreshold, IntScale, Concat, sum pooling and
    ConvTranspose estimate in both io modes, and their totals are the steps' sums."""
    path = zoo.exported(name, zoo_dir)
    for io in ("parallel", "stream"):
        r = cli("estimate", path, "--json", "--io", io)
        assert r.returncode == 0, r.stderr
        e = json.loads(r.stdout)
        assert NEW_KINDS[name] <= {s["kind"] for s in e["steps"]}
        for k in RESOURCES:
            assert e["total"][k] == sum(s[k] for s in e["steps"])
        assert e["total"]["lut"] > 0 and e["total"]["latency"] > 0
