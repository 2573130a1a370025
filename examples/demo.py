#!/usr/bin/env python3
"""bitsmith demo: run the bundled 4-bit digits classifier exactly and in float32, and compare.

The model (digits_w4a4.onnx, made by make_demo_model.py) is a Brevitas MLP 64-64-32-10 with 4-bit weights and
4-bit activations, exported as QONNX. bitsmith runs it in two modes:
  exact  every value is computed exactly; each rounding decision is taken on the true value
  float  float32 arithmetic, like qonnx's executor or onnxruntime
The demo prints the first predictions, the accuracy, how far the two modes agree, and the throughput.

Run: .venv/bin/python examples/demo.py
"""

import sys
import time
from pathlib import Path

import numpy as np

import bitsmith

HERE = Path(__file__).resolve().parent
SHOW = 12  # predictions shown next to their labels


def throughput(model, name, x, mode, budget_s=0.5):
    """Samples per second: calls repeated for about `budget_s` after one warm-up call (best call counts)."""
    model.run({name: x}, mode=mode)
    best, spent, calls = float("inf"), 0.0, 0
    while calls < 3 or spent < budget_s:
        t0 = time.perf_counter()
        model.run({name: x}, mode=mode)
        dt = time.perf_counter() - t0
        best, spent, calls = min(best, dt), spent + dt, calls + 1
    return len(x) / best


def main():
    model = bitsmith.load(str(HERE / "digits_w4a4.onnx"))
    x = np.load(HERE / "digits_inputs.npy")
    labels = np.load(HERE / "digits_labels.npy")
    inp, out = model.inputs[0], model.outputs[0]
    print(f"bitsmith {bitsmith.__version__}: {Path(model.source).name}, input {inp.name} {_shape(inp.shape)}, "
          f"output {out.name} {_shape(out.shape)}; {len(x)} test images of scikit-learn's digits\n")

    values = {mode: model.run({inp.name: x}, mode=mode, intermediates=True) for mode in ("exact", "float")}
    exact, flt = values["exact"][out.name], values["float"][out.name]
    # The activation quantizers' outputs (Brevitas names them .../act_quant/export_handler/Quant_output_0):
    # the integer grid values that integer hardware would hold.
    act_names = [k for k in values["exact"] if "act_quant" in k and k.endswith("Quant_output_0")]
    act_same = sum(int(np.sum(values["exact"][k] == values["float"][k])) for k in act_names)
    act_size = sum(values["exact"][k].size for k in act_names)
    pred_exact, pred_float = exact.argmax(1), flt.argmax(1)

    print(f"first {SHOW} predictions")
    print(f"  {'label':<6}" + "".join(f"{v:>3}" for v in labels[:SHOW]))
    print(f"  {'exact':<6}" + "".join(f"{v:>3}" for v in pred_exact[:SHOW]))
    print(f"  {'float':<6}" + "".join(f"{v:>3}" for v in pred_float[:SHOW]))
    print()

    n, size = len(x), exact.size
    same_elems = int(np.sum(exact == flt))
    same_argmax = int(np.sum(pred_exact == pred_float))
    rows = [
        ("accuracy, exact", f"{np.mean(pred_exact == labels):.1%}  ({int(np.sum(pred_exact == labels))}/{n})"),
        ("accuracy, float", f"{np.mean(pred_float == labels):.1%}  ({int(np.sum(pred_float == labels))}/{n})"),
        ("identical quantized activations, exact vs float", f"{act_same}/{act_size} values in {len(act_names)} "
         "quantizers" + ("" if act_same == act_size else f"  ({act_size - act_same} differ)")),
        ("identical outputs, exact vs float", f"{same_elems}/{size} elements"
         + ("" if same_elems == size else f"  ({size - same_elems} differ, largest gap "
                                          f"{np.max(np.abs(exact.astype(np.float64) - flt)):.3g})")),
        ("identical argmax, exact vs float", f"{same_argmax}/{n} samples"
         + ("" if same_argmax == n else f"  ({n - same_argmax} differ)")),
    ]
    _table(rows)
    if same_elems != size:
        print("  (the output layer is not quantized: float mode rounds intermediate results to float32,\n"
              "   exact mode rounds once, when it returns the exact result as float32)")
    print()

    print("throughput (samples/s on this machine)")
    print(f"  {'':<12}{'batch 1':>12}{f'batch {n}':>14}")
    for mode in ("exact", "float"):
        one = throughput(model, inp.name, x[:1], mode)
        full = throughput(model, inp.name, x, mode)
        print(f"  {mode:<12}{one:>12,.0f}{full:>14,.0f}")
    return 0


def _shape(shape):
    if shape is None:
        return "(?)"
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def _table(rows):
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
