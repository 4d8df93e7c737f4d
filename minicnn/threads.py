"""How many threads minicnn computes with.

    import minicnn
    minicnn.set_num_threads(1)        # or MINICNN_NUM_THREADS=1 in the environment
    minicnn.get_num_threads()         # default: the cores this process may run on

minicnn's threads are those of NumPy's BLAS, which runs the matrix products
(most of a training step's arithmetic). NumPy has no call to set them;
:func:`set_num_threads` finds the OpenBLAS that NumPy loaded (as NumPy's wheels
ship it) and sets them there. With another BLAS, or off Linux, it records the
number and leaves BLAS alone; :func:`blas_threads` then says None.

Splitting the memory-bound rest of a step (im2col, col2im, pooling) over
Python threads as well was measured and dropped: on the 2-core development
machine a whole training step took longer that way (see the benchmarks README).

The number of threads changes the last bits of a result, not more: OpenBLAS
splits a matrix product among its threads in a way that changes the order of
some sums, so results agree to float32 rounding (``tests/test_threads.py``
checks it); with the same number of threads they are the same bit for bit.
"""
import ctypes
import os

import numpy  # noqa: F401  (loads NumPy's BLAS, which _blas_functions looks for)

from ._checks import check_int

__all__ = ["get_num_threads", "set_num_threads", "blas_threads"]


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):        # not on Linux
        return os.cpu_count() or 1


def _from_environment():
    value = os.environ.get("MINICNN_NUM_THREADS")
    if value is None or value == "":
        return None
    try:
        return check_int(int(value), "MINICNN_NUM_THREADS", 1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"MINICNN_NUM_THREADS must be a whole number >= 1, got {value!r}") from exc


def get_num_threads():
    """The number of threads minicnn computes with: the last :func:`set_num_threads`, else
    BLAS's own, else the cores available."""
    return _threads if _threads is not None else (blas_threads() or _cores())


def set_num_threads(n):
    """Compute with ``n`` threads (``n`` >= 1); returns the previous number."""
    global _threads
    n = check_int(n, "n", 1)
    previous, _threads = get_num_threads(), n
    _set_blas_threads(n)
    return previous


# ---------------------------------------------------------------------------
# NumPy's BLAS threads
# ---------------------------------------------------------------------------
def _blas_functions():
    """``(get, set)`` of the OpenBLAS that NumPy loaded, as ctypes functions, or None.

    Found by name (``scipy_openblas_set_num_threads64_`` in NumPy's wheels) among the
    shared libraries this process has mapped (Linux's /proc/self/maps)."""
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


def _set_blas_threads(n):
    if blas_threads() is not None:
        _BLAS[1](n)


_threads = _from_environment()
if _threads is not None:                    # asked for in the environment: BLAS computes so
    _set_blas_threads(_threads)
