"""What bench_layers.py, bench_train.py and bench_fast_paths.py share: thread set-up,
optional PyTorch, the alternating median timer, and the table/JSON output.

This module imports nothing heavy at the top: the scripts import it *before*
NumPy, because the BLAS thread count (``--threads``) must be in the environment
before NumPy (and PyTorch) load their BLAS libraries.
"""
import gc
import importlib.util
import json
import os
import platform
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Idle worker threads sleep at once instead of spinning. By default OpenBLAS's workers
# spin for ~0.1 s after every call (measured: ~70 ms of CPU after one matrix product)
# and PyTorch's OpenMP threads spin too; with both libraries in one process, alternating,
# each would steal cores from the other. Set only for --compare-torch, and only where
# the user has not set them.
NO_SPIN = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}
# Variables that force OpenBLAS's CPU kernel and cache size (some machines set them for
# old OpenBLAS builds); they are reported, never changed, by these scripts.
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

if ROOT not in sys.path:            # minicnn and examples/ from this source tree
    sys.path.insert(0, ROOT)


# ---------------------------------------------------------------------------
# Command line and environment
# ---------------------------------------------------------------------------
def add_common_arguments(parser, default_json):
    """--threads, --compare-torch and --json, the same in both scripts."""
    parser.add_argument("--threads", type=int, metavar="N",
                        help="threads for NumPy's BLAS and PyTorch (sets " + "/".join(THREAD_VARS)
                             + " before they are imported; default: the libraries' own choice)")
    parser.add_argument("--compare-torch", action="store_true",
                        help="also time PyTorch in this process, alternating with minicnn run by run")
    parser.add_argument("--json", default=os.path.join(RESULTS, default_json), metavar="PATH",
                        help=f"where to write the results (default: benchmarks/results/{default_json})")


def set_thread_env(threads, compare_torch=False):
    """Put ``threads`` into the BLAS/OpenMP variables (and, comparing with PyTorch in
    the same process, :data:`NO_SPIN`). Call before NumPy and PyTorch are imported."""
    if threads is not None:
        if threads < 1:
            raise SystemExit(f"--threads must be at least 1, got {threads}")
        for var in THREAD_VARS:
            os.environ[var] = str(threads)
    if compare_torch and importlib.util.find_spec("torch") is not None:   # finds, does not import
        for var, value in NO_SPIN.items():
            os.environ.setdefault(var, value)


def import_torch(threads):
    """PyTorch with ``threads`` intra-op threads, or None (with a note) when it is not importable."""
    try:
        import torch
    except ImportError:
        print("note: --compare-torch: PyTorch is not importable in this environment; "
              "the torch columns are left empty")
        return None
    if threads is not None:
        torch.set_num_threads(threads)
    print("PyTorch " + torch.__version__ + ", threads: " + str(torch.get_num_threads()) + "; "
          + ", ".join(f"{var}={os.environ.get(var)}" for var in NO_SPIN))
    return torch


def environment(torch=None):
    """Versions, thread settings and load of the machine, for the JSON file."""
    import numpy as np
    env = {
        "python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "load_average_1_5_15": list(os.getloadavg()),
        "thread_env": {var: os.environ.get(var) for var in (*THREAD_VARS, *NO_SPIN, *BLAS_VARS)},
        "blas": blas_info(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if torch is not None:
        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return env


def blas_info():
    """NumPy's BLAS: library, version and the CPU kernel it runs, via threadpoolctl when that
    is installed (it is optional); otherwise only what the environment forces.

    The kernel matters: OpenBLAS picks one per CPU at load time, and ``OPENBLAS_CORETYPE``
    overrides it. On a CPU with AVX-512 the AVX2 ("Haswell") kernels run matrix products
    up to 1.5x slower (measured here: 186 against 275 GFLOPS).
    """
    import numpy  # noqa: F401  (threadpoolctl sees only libraries already loaded)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed",
                 **{var: os.environ.get(var) for var in BLAS_VARS}}]
    return [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]


def describe_blas():
    """One line for the console: which BLAS kernel NumPy runs."""
    return "NumPy BLAS: " + "; ".join(", ".join(f"{k}={v}" for k, v in lib.items())
                                      for lib in blas_info())


def peak_rss_mib():
    """Peak resident memory of this process so far, in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
def time_alternating(fns, repeats, warmup=1):
    """Time several callables run by run, alternating, so that a change of machine load
    hits all of them alike.

    ``fns``: ``{name: callable}`` (``None`` values are skipped). Each is first run
    ``warmup`` times untimed; then ``repeats`` rounds call each once, the order
    reversed every other round (A B, B A, ...) so that neither always runs right
    after the other. The garbage collector is off while timing, as in ``timeit``.
    Returns ``{name: [seconds, ...]}``.
    """
    fns = {name: fn for name, fn in fns.items() if fn is not None}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    order = list(fns)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(repeats):
            for name in (order if r % 2 == 0 else reversed(order)):
                t0 = time.perf_counter()
                fns[name]()
                times[name].append(time.perf_counter() - t0)
    finally:
        if enabled:
            gc.enable()
    return times


def summary(seconds):
    """Median, min and max in milliseconds (None for no runs)."""
    if not seconds:
        return None
    return {"median_ms": 1e3 * statistics.median(seconds), "min_ms": 1e3 * min(seconds),
            "max_ms": 1e3 * max(seconds), "runs": len(seconds)}


def ratio(a, b):
    return a / b if a is not None and b else None


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------
def fmt(value, digits=2):
    """A table cell: '-' for None, numbers with ``digits`` decimals."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def format_table(headers, rows, left=1):
    """Plain-text table: the first ``left`` columns left-aligned, the others right-aligned."""
    cells = [list(map(str, headers))] + [[fmt(v) if not isinstance(v, str) else v for v in row] for row in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(headers))]

    def line(r):
        return "  ".join(c.ljust(w) if k < left else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


def write_json(path, data):
    """Write ``data`` as JSON to ``path`` atomically (the folder is created)."""
    from minicnn.io import atomic_write
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    shown = os.path.relpath(path)
    print(f"wrote {path if shown.startswith('..') else shown}")
