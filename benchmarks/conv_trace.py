"""The way through one convolution, as a reader who follows the calls would walk it.

    python benchmarks/conv_trace.py                   # this checkout
    python benchmarks/conv_trace.py --root ../old     # another checkout, for a before/after
    python benchmarks/conv_trace.py --list            # every function, file by file

Traces (``sys.setprofile``) ``Conv2D(8, 16, 3, padding=1).forward(x, training=True)`` and
``backward`` on x (4, 8, 16, 16) float32, once by default and once under
``minicnn.reference_paths()``, and counts the files of ``minicnn/`` and the functions
(closures, lambdas and generator expressions included) the two calls enter. Building the
layer and the input is not traced.

The **reading path** is the same trace without what a reader skips to follow the maths:

- argument checks: every function named ``check_*``, ``_check*`` or ``pair``, and every
  function of ``minicnn/_checks.py``;
- the device: every function of ``minicnn/devices.py`` (``array_module``, the choice of NumPy
  or CuPy; ``strided_view``, the one difference between the two that the maths meets here;
  ``device_of`` and ``is_array``, called by the checks);
- the Parameter's bookkeeping: every function of ``minicnn/parameter.py`` (``accumulate``,
  the ``data``/``grad`` attributes' properties);
- on the default paths, the fast twins' file, ``minicnn/fast.py``: the one named hop away
  from the reference (listed on its own line).

``code_metrics.py`` reports these numbers too.
"""
import argparse
import json
import os
import subprocess
import sys

SKIPPED_FILES = ("_checks.py", "devices.py", "parameter.py")
CHECKERS = ("check_", "_check", "pair")
HOP = "fast.py"


def _skipped(file, function):
    name = function.rsplit(".", 1)[-1]
    return file.endswith(SKIPPED_FILES) or name.startswith(CHECKERS) or name == "array_module"


def trace(root):
    """``{"default": {file: [function, ...]}, "reference": {...}}`` for the minicnn in ``root``."""
    root = os.path.abspath(root)
    sys.path.insert(0, root)
    import numpy as np

    import minicnn
    from minicnn import layers as L
    package = os.path.dirname(os.path.abspath(minicnn.__file__)) + os.sep
    if not package.startswith(root + os.sep):
        raise SystemExit(f"imported minicnn from {package}, not from {root}")
    x = np.random.default_rng(0).standard_normal((4, 8, 16, 16)).astype(np.float32)

    def run():
        layer = L.Conv2D(8, 16, 3, padding=1)
        seen = {}

        def profile(frame, event, arg):
            if event == "call" and frame.f_code.co_filename.startswith(package):
                file = os.path.relpath(frame.f_code.co_filename, package).replace(os.sep, "/")
                name = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
                seen.setdefault(file, set()).add(name)
        sys.setprofile(profile)
        try:
            out = layer.forward(x, training=True)
            layer.backward(np.ones_like(out))
        finally:
            sys.setprofile(None)
        return {file: sorted(names) for file, names in sorted(seen.items())}

    default = run()
    with minicnn.reference_paths():
        reference = run()
    return {"default": default, "reference": reference}


def summary(calls):
    """Counts of one trace: everything, and the reading path (see the module docstring)."""
    reading = {f: [n for n in names if not _skipped(f, n)] for f, names in calls.items()}
    reading = {f: names for f, names in reading.items() if names}
    hop = reading.pop(HOP, [])
    count = lambda d: sum(map(len, d.values()))
    return {"files": len(calls), "functions": count(calls),
            "reading_files": len(reading), "reading_functions": count(reading),
            "reading_path": sorted(reading), "hop_functions": len(hop)}


def measure(root):
    """Run the trace in a fresh interpreter (the minicnn of ``root``, nothing else imported)."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--root", root, "--raw"],
                         capture_output=True, text=True, check=True)
    calls = json.loads(out.stdout)
    return {mode: {**summary(c), "calls": c} for mode, c in calls.items()}


def report(m, listing=False):
    for mode in ("default", "reference"):
        s = m[mode]
        hop = f" + {HOP} ({s['hop_functions']} functions, the fast twin)" if s["hop_functions"] else ""
        print(f"Conv2D forward + backward, {mode} paths: {s['files']} files, {s['functions']} functions; "
              f"reading path {s['reading_files']} files, {s['reading_functions']} functions "
              f"({', '.join(s['reading_path'])}){hop}")
        if listing:
            for file, names in s["calls"].items():
                print(f"    {file}: {', '.join(names)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                        help="the checkout to measure (default: this one)")
    parser.add_argument("--list", action="store_true", help="list every function entered")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)    # (measure's subprocess)
    args = parser.parse_args(argv)
    if args.raw:
        print(json.dumps(trace(args.root)))
        return None
    m = measure(args.root)
    report(m, args.list)
    return m


if __name__ == "__main__":
    sys.exit(main() and 0)
