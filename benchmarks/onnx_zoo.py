"""The zoo through ONNX at its native input size: each model of ``minicnn.models`` exported
(opset 17, dynamic batch), run by onnxruntime, and read back by ``minicnn.onnx.load``.

    python benchmarks/onnx_zoo.py                          # every model (needs onnx, onnxruntime)
    python benchmarks/onnx_zoo.py --model googlenet --model resnet50 --batch 2

Each model runs in a fresh subprocess (one at a time: the machine may be shared), which
builds it (``mc.manual_seed(0)``, BatchNorm running statistics set to random values so that
they matter, as ``bench_models.py`` does), exports it to a temporary file at the native size
(LeNet-5 1 x 32 x 32, Inception-v4 3 x 299 x 299, the rest 3 x 224 x 224), runs onnxruntime
(one thread) and ``model.predict`` on the same ``--batch`` images, and reports the worst
|minicnn - onnxruntime| (absolute, and over the largest output), the file's size and the
export time; then loads the file back (``--no-load`` skips it) and reports whether the
architecture is the same and the predictions are bit-identical. Peak resident memory is the
subprocess's VmHWM (the model, the file's bytes, onnxruntime's session and the loaded copy
together). Writes the rows to ``benchmarks/results/onnx_zoo.json``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _timing import write_json  # noqa: E402
from bench_models import NATIVE, ORDER, peak_rss_mb, zoo_model  # noqa: E402


def run_one(name, batch, load_back):
    """In the subprocess: build, export, compare, load back; print one JSON line."""
    import numpy as np
    import onnxruntime as ort

    import minicnn.onnx as monnx

    rng = np.random.default_rng(0)
    model = zoo_model(name, rng)
    c, side = NATIVE.get(name, (3, 224))
    x = rng.standard_normal((batch, c, side, side)).astype(np.float32)
    row = dict(model=name, input=[c, side, side], batch=batch, params=model.num_params())
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.onnx")
        t = time.perf_counter()
        monnx.export(model, path, input_shape=(c, side, side))
        row["export_s"] = time.perf_counter() - t
        row["file_mb"] = os.path.getsize(path) / 2 ** 20
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": x})[0]
        del session
        expected = model.predict(x)
        worst = float(np.abs(got.astype(np.float64) - expected).max())
        row.update(max_abs=worst, relative=worst / float(np.abs(expected).max()))
        if load_back:
            t = time.perf_counter()
            back = monnx.load(path)
            row["load_s"] = time.perf_counter() - t
            row["same_architecture"] = back.architecture() == model.architecture()
            row["bit_identical"] = bool(np.array_equal(back.predict(x), expected))
    row["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=ORDER, help="a model (repeatable; default all)")
    parser.add_argument("--batch", type=int, default=2, help="images per run (default 2: the batch axis is dynamic)")
    parser.add_argument("--no-load", action="store_true", help="skip reading the file back")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "onnx_zoo.json"),
                        help="write the rows here (default benchmarks/results/onnx_zoo.json)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return run_one(args.one, args.batch, not args.no_load)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    header = (f"{'model':14s} {'input':>11s} {'parameters':>13s} {'file (MB)':>9s} {'export (s)':>10s} "
              f"{'max |minicnn - ort|':>19s} {'relative':>9s} {'load back':>13s} {'peak RSS (MB)':>13s}")
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.model or ORDER:
        cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--batch", str(args.batch)]
        cmd += ["--no-load"] if args.no_load else []
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        back = ("-" if "same_architecture" not in row else
                "exact" if row["same_architecture"] and row["bit_identical"] else
                f"arch {row['same_architecture']}, bits {row['bit_identical']}")
        print(f"{name:14s} {'x'.join(map(str, row['input'])):>11s} {row['params']:>13,d} {row['file_mb']:9.1f} "
              f"{row['export_s']:10.1f} {row['max_abs']:19.2e} {row['relative']:9.1e} {back:>13s} "
              f"{row['peak_rss_mb']:13.0f}", flush=True)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
