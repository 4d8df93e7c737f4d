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


def he_normal(shape, fan_in, fan_out, rng, dtype=np.float32):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(dtype)


def he_uniform(shape, fan_in, fan_out, rng, dtype=np.float32):
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)


def xavier_normal(shape, fan_in, fan_out, rng, dtype=np.float32):
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape).astype(dtype)


def xavier_uniform(shape, fan_in, fan_out, rng, dtype=np.float32):
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def zeros(shape, fan_in, fan_out, rng, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


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
