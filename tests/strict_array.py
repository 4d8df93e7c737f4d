"""A stand-in for CuPy that runs on the CPU: a GPU's rules without a GPU.

``StrictArray`` wraps a NumPy array the way a CuPy array wraps device memory, and
keeps the rules that make host leaks fail on a real GPU:

- no implicit conversion to NumPy (``np.asarray(a)`` raises TypeError, as CuPy's does);
- no NumPy array in its arithmetic (CuPy raises TypeError for a host operand);
- indexing one element gives a 0-d view, not a copy, as CuPy's does;
- stricter than CuPy: NumPy's functions and ufuncs refuse it (CuPy takes some of them
  through ``__array_function__``/``__array_ufunc__``): the library must name the array
  module, ``xp.maximum(...)``, and then runs on CuPy whatever CuPy intercepts.

``strict`` is the module (what ``cupy`` is to a CuPy array): ``strict.zeros(...)``,
``strict.matmul(...)``... computed by NumPy, arrays wrapped on the way out. It offers only
the names CuPy 14 has (``tests/data/cupy_names.txt``), so a NumPy-only function fails here
as it would on the GPU.

:data:`COUNTS` counts what waits for a GPU: ``syncs`` (``float(a)``, ``int(a)``, ``bool(a)``,
``a.item()``, an array used as an index or a length) and ``to_host`` (``a.get()``), and
``to_device`` (``strict.asarray`` of host data). A training step must leave the first two
at zero.
"""
import copy
import functools
import operator
import os
import types

import numpy as np

_NAMES_FILE = os.path.join(os.path.dirname(__file__), "data", "cupy_names.txt")
with open(_NAMES_FILE) as _f:
    CUPY_NAMES = {line.strip() for line in _f if line.strip() and not line.startswith("#")}

COUNTS = {"syncs": 0, "to_host": 0, "to_device": 0}


def reset_counts():
    for key in COUNTS:
        COUNTS[key] = 0


class HostLeak(TypeError):
    """What a real GPU would refuse: a NumPy array met a device array."""


def _unwrap(value):
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise HostLeak(f"a numpy.ndarray {value.shape} {value.dtype} met a device array: CuPy refuses "
                       "host arrays in its operations (move it with xp.asarray, or make it with xp)")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value):
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic):            # CuPy's reductions give 0-d arrays, not scalars
        return StrictArray(np.asarray(value))
    if isinstance(value, (list, tuple)):
        return type(value)(_wrap(v) for v in value)
    return value


def _sync(method):
    @functools.wraps(method)
    def counted(self, *args, **kwargs):
        COUNTS["syncs"] += 1
        return method(self, *args, **kwargs)
    return counted


class StrictArray:
    """An array on the stand-in device (see the module docstring)."""

    __array_ufunc__ = None                  # np.add(a, b) and ndarray + a refuse it
    __hash__ = None

    def __init__(self, array):
        self._a = array

    def __array_function__(self, func, types, args, kwargs):
        return NotImplemented               # np.sum(a), np.zeros_like(a), ...: TypeError

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly. (the CuPy stand-in)")

    # -- host transfers, counted ------------------------------------------------------
    def get(self):
        COUNTS["to_host"] += 1
        return self._a.copy()

    __float__ = _sync(lambda self: float(self._a))
    __int__ = _sync(lambda self: int(self._a))
    __bool__ = _sync(lambda self: bool(self._a))
    __index__ = _sync(lambda self: operator.index(self._a))
    __complex__ = _sync(lambda self: complex(self._a))
    item = _sync(lambda self, *args: self._a.item(*args))
    tolist = _sync(lambda self: self._a.tolist())

    def __format__(self, spec):
        COUNTS["syncs"] += 1
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    # -- metadata (no transfer) ----------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    # CuPy's flags are these three only (no writeable: a device array is always writeable)
    flags = property(lambda self: types.SimpleNamespace(c_contiguous=self._a.flags.c_contiguous,
                                                        f_contiguous=self._a.flags.f_contiguous,
                                                        owndata=self._a.flags.owndata))
    T = property(lambda self: StrictArray(self._a.T))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (StrictArray(row) if isinstance(row, np.ndarray) else StrictArray(np.asarray(row))
                for row in self._a)

    def __repr__(self):
        return f"StrictArray(shape={self.shape}, dtype={self.dtype})"

    def __deepcopy__(self, memo):
        return StrictArray(self._a.copy())

    def __copy__(self):
        return StrictArray(self._a)

    def __getstate__(self):
        raise TypeError("the CuPy stand-in's arrays are not pickled (move them to the host first)")

    # -- methods: computed by NumPy, arrays wrapped ---------------------------------------
    def __getattr__(self, name):
        if name.startswith("_") or f"ndarray.{name}" not in CUPY_NAMES:
            raise AttributeError(f"cupy.ndarray has no attribute {name!r} (the CuPy stand-in)")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kwargs):
            return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))
        return method

    def __getitem__(self, key):
        key = _unwrap(key)
        got = self._a[key]
        if isinstance(got, np.generic):          # CuPy's a[i, j] is a 0-d *view*: writes to a show in it
            got = self._a[(*key, ...) if isinstance(key, tuple) else (key, ...)]
        return _wrap(got)

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)


def _binary(op):
    def forward(self, other):
        return _wrap(op(self._a, _unwrap(other)))

    def reflected(self, other):
        return _wrap(op(_unwrap(other), self._a))
    return forward, reflected


def _inplace(op):
    def method(self, other):
        op(self._a, _unwrap(other))
        return self
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    _op = getattr(operator, _name if _name not in ("and", "or") else _name + "_")
    _fwd, _ref = _binary(_op)
    setattr(StrictArray, f"__{_name}__", _fwd)
    setattr(StrictArray, f"__r{_name}__", _ref)
    setattr(StrictArray, f"__i{_name}__", _inplace(getattr(operator, f"i{_name}")))
for _name in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(StrictArray, f"__{_name}__", _binary(getattr(operator, _name))[0])
for _name in ("neg", "pos", "abs", "invert"):
    setattr(StrictArray, f"__{_name}__", (lambda op: lambda self: _wrap(op(self._a)))(getattr(operator, _name)))


# ---------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------
def _wrapped_function(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)))
    return call


class _Namespace(types.SimpleNamespace):
    """A part of the stand-in module: NumPy's functions of that part, offered only under the
    names CuPy has there (``prefix`` + name in :data:`CUPY_NAMES`)."""

    __hash__ = object.__hash__                # a module is hashable (minicnn keys generators by it)
    __eq__ = object.__eq__

    def __init__(self, source, prefix, **extra):
        super().__init__(**extra)
        self._source, self._prefix = source, prefix

    def __getattr__(self, name):
        if name.startswith("_") or self._prefix + name not in CUPY_NAMES:
            raise AttributeError(f"cupy has no {self._prefix + name!r} (the CuPy stand-in)")
        attr = getattr(self._source, name)
        if isinstance(attr, type) or not callable(attr):     # dtypes (strict.float32), constants
            return attr
        return _wrapped_function(attr)


class _Generator:
    """``strict.random.default_rng(seed)``: NumPy's generator, drawing device arrays, offering
    only the methods CuPy's Generator has."""

    def __init__(self, seed):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        if name.startswith("_") or f"random.Generator.{name}" not in CUPY_NAMES:
            raise AttributeError(f"cupy.random.Generator has no {name!r} (the CuPy stand-in)")
        return _wrapped_function(getattr(self._g, name))


def _asarray(a, dtype=None):
    if isinstance(a, StrictArray):
        return a if dtype is None else StrictArray(a._a.astype(dtype, copy=False))
    COUNTS["to_device"] += 1
    return StrictArray(np.array(a, dtype=dtype))


def _asnumpy(a):
    return a.get() if isinstance(a, StrictArray) else np.asarray(a)


strict = _Namespace(np, "", ndarray=StrictArray, asarray=_asarray, array=_asarray, asnumpy=_asnumpy,
                    lib=types.SimpleNamespace(stride_tricks=_Namespace(np.lib.stride_tricks, "lib.stride_tricks.")),
                    random=_Namespace(np.random, "random.", default_rng=_Generator),
                    get_array_module=lambda *arrays: strict if any(isinstance(a, StrictArray) for a in arrays)
                    else np)


def copy_of(a):
    """A host copy of a device array, not counted (for the tests' comparisons)."""
    return copy.deepcopy(a._a) if isinstance(a, StrictArray) else a
