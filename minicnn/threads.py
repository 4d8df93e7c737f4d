"""How many threads minicnn computes with.

    import minicnn
    minicnn.set_num_threads(1)        # or MINICNN_NUM_THREADS=1 in the environment
    minicnn.get_num_threads()         # default: the cores this process may run on

Two kinds of work share the cores. The matrix products run in NumPy's BLAS,
which has threads of its own; :func:`set_num_threads` sets those too when the
BLAS library lets it (OpenBLAS, as NumPy's wheels ship it). The rest of a
training step is memory-bound NumPy work (the im2col copy, col2im's adds,
pooling), which NumPy runs on one core; :func:`parallel` splits such work into
one chunk of the batch per thread. NumPy releases the GIL while it copies and
computes, so the chunks run at the same time.

Results do not depend on the number of minicnn's threads: the chunks split
the batch, and no sum ever runs across samples in a chunked step, so every
number is computed by the same operations in the same order whatever the split
(``tests/test_threads.py`` checks it bit for bit). The number of BLAS threads
does change the last bits: OpenBLAS splits a matrix product among its threads
in a way that changes the order of some sums, so results agree to float32
rounding (about 1e-6 relative), which that test checks too.
"""
import ctypes
import os
from concurrent.futures import ThreadPoolExecutor

from ._checks import check_bool, check_int

__all__ = ["get_num_threads", "set_num_threads", "parallel"]

#: Below this many values a step runs in one piece: handing chunks to threads costs ~20 us.
MIN_PARALLEL_SIZE = 1 << 16


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):        # not on Linux
        return os.cpu_count() or 1


def _from_environment():
    value = os.environ.get("MINICNN_NUM_THREADS")
    if value is None or value == "":
        return _cores()
    try:
        return check_int(int(value), "MINICNN_NUM_THREADS", 1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"MINICNN_NUM_THREADS must be a whole number >= 1, got {value!r}") from exc


_threads = _from_environment()
_pool = None                                  # made when first needed: importing minicnn starts no thread


def get_num_threads():
    """The number of threads minicnn computes with."""
    return _threads


def set_num_threads(n, blas=True):
    """Compute with ``n`` threads (``n`` >= 1): minicnn's own, and (unless ``blas=False``)
    NumPy's BLAS where it can be set (see :func:`blas_threads`). Returns the previous number."""
    global _threads, _pool
    n = check_int(n, "n", 1)
    previous, _threads = _threads, n
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    if check_bool(blas, "blas"):
        set_blas_threads(n)
    return previous


def parallel(fn, n, size=None):
    """Run ``fn(start, stop)`` over chunks of ``range(n)`` (the batch), one chunk per thread,
    and return when all are done; an exception in a chunk is raised here.

    ``size``: the number of values the whole step touches; small steps (below
    :data:`MIN_PARALLEL_SIZE`) run in one piece, on the calling thread.
    """
    global _pool
    k = min(_threads, n)
    if k <= 1 or (size is not None and size < MIN_PARALLEL_SIZE):
        fn(0, n)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="minicnn")
    bounds = [n * i // k for i in range(k + 1)]
    futures = [_pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, k)]
    try:
        fn(bounds[0], bounds[1])            # the calling thread takes the first chunk
    finally:
        for future in futures:
            future.result()


# ---------------------------------------------------------------------------
# NumPy's BLAS threads
# ---------------------------------------------------------------------------
def _blas_functions():
    """``(get, set)`` of the OpenBLAS that NumPy loaded, as ctypes functions, or None.

    NumPy has no call for it; the library's own functions are found by name
    (``scipy_openblas_set_num_threads64_`` in NumPy's wheels) among the shared
    libraries this process has mapped (Linux's /proc/self/maps)."""
    import numpy  # noqa: F401  (loads NumPy's BLAS)
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    return get, put
    return None


_BLAS = None


def blas_threads():
    """The number of threads NumPy's BLAS runs its matrix products with, or None when
    that cannot be read (a BLAS other than OpenBLAS, or not Linux)."""
    global _BLAS
    if _BLAS is None:
        _BLAS = _blas_functions() or False
    return _BLAS[0]() if _BLAS else None


def set_blas_threads(n):
    """Set NumPy's BLAS threads to ``n`` where possible; returns whether it was."""
    blas_threads()
    if not _BLAS:
        return False
    _BLAS[1](check_int(n, "n", 1))
    return True


if os.environ.get("MINICNN_NUM_THREADS"):     # asked for: BLAS computes with as many threads
    set_blas_threads(_threads)
