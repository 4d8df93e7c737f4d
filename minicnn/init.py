"""Weight initialisers: He (Kaiming) and Xavier (Glorot), uniform and normal.

Each takes ``(shape, fan_in, fan_out, rng, dtype)`` and returns an array. For a
conv weight (O, C, kh, kw), fan_in = C*kh*kw and fan_out = O*kh*kw; for a dense
weight (in, out), fan_in = in and fan_out = out.

- He/Kaiming (for ReLU nets): Var = 2 / fan_in.
  normal: N(0, 2/fan_in); uniform: U(-a, a), a = sqrt(6 / fan_in).
- Xavier/Glorot (for tanh/sigmoid nets): Var = 2 / (fan_in + fan_out).
  normal: N(0, 2/(fan_in+fan_out)); uniform: a = sqrt(6 / (fan_in + fan_out)).
"""
import numpy as np

from ._checks import check_dtype, check_int, check_shape


def _checked(fn):
    """Validate ``(shape, fan_in, fan_out, rng, dtype)`` before ``fn`` runs."""
    def init(shape, fan_in, fan_out, rng, dtype=np.float32):
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
            shape = (shape,)
        shape = check_shape(shape, "shape")
        fan_in, fan_out = check_int(fan_in, "fan_in", 0), check_int(fan_out, "fan_out", 0)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        dtype = check_dtype(dtype)
        if fn.__name__.startswith("he") and fan_in < 1:
            raise ValueError(f"fan_in must be >= 1 for {fn.__name__}, got {fan_in}")
        if fn.__name__.startswith("xavier") and fan_in + fan_out < 1:
            raise ValueError(f"fan_in + fan_out must be >= 1 for {fn.__name__}, got {fan_in + fan_out}")
        return fn(shape, fan_in, fan_out, rng, dtype)
    init.__name__, init.__doc__ = fn.__name__, fn.__doc__
    return init


@_checked
def he_normal(shape, fan_in, fan_out, rng, dtype=np.float32):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(dtype)


@_checked
def he_uniform(shape, fan_in, fan_out, rng, dtype=np.float32):
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)


@_checked
def xavier_normal(shape, fan_in, fan_out, rng, dtype=np.float32):
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape).astype(dtype)


@_checked
def xavier_uniform(shape, fan_in, fan_out, rng, dtype=np.float32):
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


@_checked
def zeros(shape, fan_in, fan_out, rng, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


@_checked
def ones(shape, fan_in, fan_out, rng, dtype=np.float32):
    return np.ones(shape, dtype=dtype)


# Aliases with the names PyTorch and Keras use.
kaiming_normal = he_normal
kaiming_uniform = he_uniform
glorot_normal = xavier_normal
glorot_uniform = xavier_uniform

INITIALIZERS = {
    "he_normal": he_normal, "he_uniform": he_uniform,
    "kaiming_normal": he_normal, "kaiming_uniform": he_uniform,
    "xavier_normal": xavier_normal, "xavier_uniform": xavier_uniform,
    "glorot_normal": xavier_normal, "glorot_uniform": xavier_uniform,
    "zeros": zeros, "ones": ones,
}


def get(init):
    """Look an initialiser up by name (``"he_normal"``, ``"xavier_uniform"``, ...)."""
    if callable(init):
        return init
    if not isinstance(init, str) or init not in INITIALIZERS:
        names = ", ".join(sorted(INITIALIZERS))
        raise ValueError(f"init must be a callable or one of {names}; got {init!r}")
    return INITIALIZERS[init]


def draw(init, shape, fan_in, fan_out, rng, dtype):
    """Initial values of ``shape``: ``init`` (a name or a callable) called and its result checked."""
    fn = get(init)
    try:
        data = fn(shape, fan_in, fan_out, rng, dtype)
    except TypeError as exc:
        if not isinstance(init, str):
            raise TypeError(f"init must be a callable (shape, fan_in, fan_out, rng, dtype) -> array; "
                            f"calling it failed: {exc}") from exc
        raise
    data = np.asarray(data)
    if data.shape != tuple(shape) or data.dtype.kind not in "biuf":
        raise ValueError(f"init must return a numeric array of shape {tuple(shape)}, "
                         f"got {data.dtype} {data.shape}")
    return data.astype(dtype)
