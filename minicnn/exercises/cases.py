"""The inputs the checker tries: fixed cases, random ones, and the gradient check's.

- ``FIXED[name]()``: a list of ``(note, args)``, small and seeded, chosen so that every
  common mistake of :mod:`.mistakes` shows on one of them (a kernel that is not symmetric,
  a batch of more than one, padding, windows that overlap, ties, exact zeros, logits of 1000);
- ``RANDOM[name](draw)``: one random case, its sizes, stride, padding and dtype drawn with
  ``draw`` (the checker's Hypothesis data, so a failure shrinks to the smallest input)
  and its values from a seeded generator: small integers (easy to read, with ties and
  zeros) or normal numbers;
- ``GRADIENT[name]``: the backward exercises' float64 cases for the numerical gradient
  check, and which arguments of the forward each gradient belongs to.
"""
from collections import namedtuple

import numpy as np

#: forward: the exercise whose function the gradient is checked against (None: the exercise
#: itself returns (loss, gradient)); wrt: the forward's arguments differentiated, in the order
#: of the backward's outputs; backward_args(dout, forward_args): the backward's arguments.
Gradient = namedtuple("Gradient", "forward make wrt backward_args")


def _normal(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _conv(seed, n, c, o, h, w, k, stride, padding, dtype=np.float64):
    rng = np.random.default_rng(seed)
    kh, kw = (k, k) if isinstance(k, int) else k
    return (_normal(rng, (n, c, h, w), dtype), _normal(rng, (o, c, kh, kw), dtype), _normal(rng, o, dtype),
            stride, padding)


def _out_size(size, k, stride, padding=0):
    return (size + 2 * padding - k) // stride + 1


def _with_dout(seed, args, out_shape):
    """The backward's arguments for the forward ``args``: a random dout first."""
    return (_normal(np.random.default_rng(seed + 1), out_shape, args[0].dtype),) + args


def _conv_backward(seed, n, c, o, h, w, k, stride, padding, dtype=np.float64):
    x, W, _, stride, padding = _conv(seed, n, c, o, h, w, k, stride, padding, dtype)
    shape = (n, o, _out_size(h, W.shape[2], stride, padding), _out_size(w, W.shape[3], stride, padding))
    return _with_dout(seed, (x, W, stride, padding), shape)


def _image(seed, shape, ties=False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    if ties:
        return rng.integers(-2, 3, shape).astype(dtype)
    return _normal(rng, shape, dtype)


def _pool_backward(seed, shape, k, stride, ties=False, dtype=np.float64):
    x = _image(seed, shape, ties, dtype)
    out = (*shape[:2], _out_size(shape[2], k, stride), _out_size(shape[3], k, stride))
    return _with_dout(seed, (x, k, stride), out)


def _dense(seed, n, i, o, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return _normal(rng, (n, i), dtype), _normal(rng, (i, o), dtype), _normal(rng, o, dtype)


def _logits(seed, n, classes, scale=1.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (_normal(rng, (n, classes)) * scale).astype(dtype), rng.integers(0, classes, n)


def _batchnorm(seed, shape, eps, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = (_normal(rng, shape) * 2 + 1).astype(dtype)        # mean 1, std 2: normalising changes it
    c = shape[1]
    return x, rng.uniform(0.5, 2, c).astype(dtype), _normal(rng, c, dtype), eps


def _sgd(seed, shape, lr, momentum, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return _normal(rng, shape, dtype), _normal(rng, shape, dtype), _normal(rng, shape, dtype), lr, momentum


def _conv_fixed():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    W = (np.arange(9.0) - 4).reshape(1, 1, 3, 3)             # not symmetric: a flip shows
    return [("by hand: arange(16) and arange(9) - 4", (x, W, np.array([0.5]), 1, 0)),
            ("", _conv(1, 2, 3, 4, 7, 7, 3, 2, 1)),
            ("a 2x3 kernel", _conv(2, 1, 2, 3, 5, 6, (2, 3), 1, 2)),
            ("float32: keep the input's dtype", _conv(3, 2, 2, 2, 5, 5, 3, 1, 1, np.float32))]


def _im2col_fixed():
    x = np.arange(2 * 2 * 4 * 4.0).reshape(2, 2, 4, 4)
    return [("by hand: arange(64)", (x, 2, 2, 2, 0)),
            ("", (_image(1, (2, 3, 5, 5)), 3, 3, 2, 1)),
            ("a 2x3 window", (_image(2, (1, 2, 5, 6)), 2, 3, 1, 2)),
            ("float32: keep the input's dtype", (_image(3, (2, 2, 4, 4), dtype=np.float32), 3, 3, 1, 1))]


def _pool_fixed():
    return [("by hand: arange(16), 2x2 windows", (np.arange(16.0).reshape(1, 1, 4, 4), 2, 2)),
            ("overlapping windows", (_image(1, (2, 3, 7, 7)), 3, 2)),
            ("ties", (_image(2, (2, 2, 6, 6), ties=True), 2, 2)),
            ("float32: keep the input's dtype", (_image(3, (2, 2, 5, 5), dtype=np.float32), 2, 1))]


def _pool_backward_fixed():
    return [("2x2 windows", _pool_backward(1, (1, 2, 4, 4), 2, 2)),
            ("overlapping windows", _pool_backward(2, (2, 3, 7, 7), 3, 2)),
            ("ties", _pool_backward(3, (2, 2, 6, 6), 2, 2, ties=True)),
            ("ties in overlapping windows", _pool_backward(4, (2, 2, 7, 7), 3, 2, ties=True)),
            ("float32: keep the input's dtype", _pool_backward(5, (2, 2, 5, 5), 2, 1, dtype=np.float32))]


def _avg_backward_fixed():
    # avg_pool2d_backward(dout, x_shape, k, stride): x's shape only
    return [(note, (dout, x.shape, k, stride)) for note, (dout, x, k, stride) in _pool_backward_fixed()
            if "ties" not in note]


def _relu_fixed():
    return [("", (_normal(np.random.default_rng(1), (2, 3, 4, 4)),)),
            ("exact zeros", (_image(2, (3, 8), ties=True),)),
            ("float32: keep the input's dtype", (_image(3, (4, 5), dtype=np.float32),))]


def _relu_backward_fixed():
    return [(note, (_image(10 + i, x.shape, dtype=x.dtype), x)) for i, (note, (x,)) in enumerate(_relu_fixed())]


def _dense_fixed():
    return [("", _dense(1, 4, 5, 3)), ("as many inputs as outputs", _dense(2, 3, 4, 4)),
            ("float32: keep the input's dtype", _dense(3, 2, 3, 2, np.float32))]


def _dense_backward_fixed():
    return [(note, (_normal(np.random.default_rng(10 + i), (len(x), W.shape[1]), x.dtype), x, W))
            for i, (note, (x, W, _)) in enumerate(_dense_fixed())]


def _ce_fixed():
    big = np.array([[1000.0, 0, -1000], [0, 1000, 999], [-5, 1000, 3]]), np.array([0, 2, 0])
    return [("", _logits(1, 4, 5)), ("logits of 1000", big),
            ("float32: keep the input's dtype", _logits(2, 3, 4, 3.0, np.float32))]


def _bn_fixed():
    return [("", _batchnorm(1, (4, 3, 3, 3), 1e-5)), ("a large eps", _batchnorm(2, (2, 2, 2, 3), 0.5)),
            ("float32: keep the input's dtype", _batchnorm(3, (3, 2, 2, 2), 1e-5, np.float32))]


def _bn_backward_fixed():
    return [(note, (_normal(np.random.default_rng(10 + i), x.shape, x.dtype), x, gamma, eps))
            for i, (note, (x, gamma, _, eps)) in enumerate(_bn_fixed())]


def _sgd_fixed():
    return [("", _sgd(1, (3, 4), 0.1, 0.9)), ("an image-shaped kernel", _sgd(2, (2, 1, 3, 3), 0.5, 0.5)),
            ("float32: keep the input's dtype", _sgd(3, (5,), 0.01, 0.9, np.float32))]


FIXED = {
    "conv2d_forward": _conv_fixed,
    "im2col": _im2col_fixed,
    "conv2d_forward_im2col": _conv_fixed,
    "conv2d_backward": lambda: [
        ("", _conv_backward(1, 2, 3, 4, 7, 7, 3, 2, 1)),
        ("a 2x3 kernel", _conv_backward(2, 2, 2, 3, 5, 6, (2, 3), 1, 2)),
        ("no padding", _conv_backward(3, 3, 1, 2, 6, 6, 3, 1, 0)),
        ("float32: keep the input's dtype", _conv_backward(4, 2, 2, 2, 5, 5, 3, 1, 1, np.float32))],
    "max_pool2d_forward": _pool_fixed,
    "max_pool2d_backward": _pool_backward_fixed,
    "avg_pool2d_forward": _pool_fixed,
    "avg_pool2d_backward": _avg_backward_fixed,
    "relu_forward": _relu_fixed,
    "relu_backward": _relu_backward_fixed,
    "dense_forward": _dense_fixed,
    "dense_backward": _dense_backward_fixed,
    "softmax_cross_entropy": _ce_fixed,
    "batchnorm_forward": _bn_fixed,
    "batchnorm_backward": _bn_backward_fixed,
    "sgd_momentum_step": _sgd_fixed,
}


# ---------------------------------------------------------------------------
# Random cases: draw.int(lo, hi), draw.pick(options) come from Hypothesis
# ---------------------------------------------------------------------------
def _values(draw):
    """(seed, ties, dtype): how the values of a random case are made."""
    return draw.int(0, 2 ** 16), draw.pick([True, False]), draw.pick([np.float64, np.float32])


def _random_conv_geometry(draw):
    kh, kw, stride, padding = draw.int(1, 4), draw.int(1, 4), draw.int(1, 3), draw.int(0, 2)
    h = draw.int(max(1, kh - 2 * padding), kh + 5)
    w = draw.int(max(1, kw - 2 * padding), kw + 5)
    return draw.int(1, 3), draw.int(1, 3), draw.int(1, 3), h, w, (kh, kw), stride, padding


def _random_conv(draw):
    n, c, o, h, w, k, stride, padding = _random_conv_geometry(draw)
    seed, ties, dtype = _values(draw)
    x, W, b, _, _ = _conv(seed, n, c, o, h, w, k, stride, padding, dtype)
    if ties:
        x, W, b = (np.round(a) for a in (x, W, b))
    return x, W, b, stride, padding


def _random_conv_backward(draw):
    x, W, _, stride, padding = _random_conv(draw)
    o, _, kh, kw = W.shape
    shape = (len(x), o, _out_size(x.shape[2], kh, stride, padding), _out_size(x.shape[3], kw, stride, padding))
    return _with_dout(draw.int(0, 2 ** 16), (x, W, stride, padding), shape)


def _random_im2col(draw):
    x, W, _, stride, padding = _random_conv(draw)
    return x, W.shape[2], W.shape[3], stride, padding


def _random_pool(draw):
    k, stride = draw.int(1, 4), draw.int(1, 4)
    shape = (draw.int(1, 3), draw.int(1, 3), draw.int(k, k + 6), draw.int(k, k + 6))
    seed, ties, dtype = _values(draw)
    return _image(seed, shape, ties, dtype), k, stride


def _random_pool_backward(draw):
    x, k, stride = _random_pool(draw)
    out = (*x.shape[:2], _out_size(x.shape[2], k, stride), _out_size(x.shape[3], k, stride))
    return _with_dout(draw.int(0, 2 ** 16), (x, k, stride), out)


def _random_avg_backward(draw):
    dout, x, k, stride = _random_pool_backward(draw)
    return dout, x.shape, k, stride


def _random_array(draw):
    shape = tuple(draw.int(1, 4) for _ in range(draw.int(1, 4)))
    seed, ties, dtype = _values(draw)
    return _image(seed, shape, ties, dtype)


def _random_relu_backward(draw):
    x = _random_array(draw)
    return _image(draw.int(0, 2 ** 16), x.shape, dtype=x.dtype), x


def _random_dense(draw):
    seed, _, dtype = _values(draw)
    return _dense(seed, draw.int(1, 4), draw.int(1, 5), draw.int(1, 5), dtype)


def _random_dense_backward(draw):
    x, W, _ = _random_dense(draw)
    return _normal(np.random.default_rng(draw.int(0, 2 ** 16)), (len(x), W.shape[1]), x.dtype), x, W


def _random_ce(draw):
    seed, _, dtype = _values(draw)
    return _logits(seed, draw.int(1, 4), draw.int(2, 6), draw.pick([1.0, 10.0, 1000.0]), dtype)


def _random_bn(draw):
    n, c = draw.int(1, 3), draw.int(1, 3)
    h, w = draw.int(1, 3), draw.int(2 if n == 1 else 1, 3)           # two values a channel at least
    seed, _, dtype = _values(draw)
    return _batchnorm(seed, (n, c, h, w), draw.pick([1e-5, 1e-3, 0.1]), dtype)


def _random_bn_backward(draw):
    x, gamma, _, eps = _random_bn(draw)
    return _normal(np.random.default_rng(draw.int(0, 2 ** 16)), x.shape, x.dtype), x, gamma, eps


def _random_sgd(draw):
    shape = tuple(draw.int(1, 4) for _ in range(draw.int(1, 4)))
    seed, _, dtype = _values(draw)
    return _sgd(seed, shape, draw.pick([0.1, 0.01, 0.5]), draw.pick([0.9, 0.5, 0.99]), dtype)


RANDOM = {
    "conv2d_forward": _random_conv,
    "im2col": _random_im2col,
    "conv2d_forward_im2col": _random_conv,
    "conv2d_backward": _random_conv_backward,
    "max_pool2d_forward": _random_pool,
    "max_pool2d_backward": _random_pool_backward,
    "avg_pool2d_forward": _random_pool,
    "avg_pool2d_backward": _random_avg_backward,
    "relu_forward": lambda draw: (_random_array(draw),),
    "relu_backward": _random_relu_backward,
    "dense_forward": _random_dense,
    "dense_backward": _random_dense_backward,
    "softmax_cross_entropy": _random_ce,
    "batchnorm_forward": _random_bn,
    "batchnorm_backward": _random_bn_backward,
    "sgd_momentum_step": _random_sgd,
}


# ---------------------------------------------------------------------------
# Gradient checks (float64; no ties, no values at ReLU's kink)
# ---------------------------------------------------------------------------
def _distinct(seed, shape):
    """Values 0.1 apart, shuffled: every window has one clear maximum (central differences
    move a value by 1e-6, never past another)."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))) * 0.1).reshape(shape) - 1


def _away_from_zero(seed, shape):
    x = _normal(np.random.default_rng(seed), shape)
    return x + np.sign(x) * 0.05


GRADIENT = {
    "conv2d_backward": Gradient("conv2d_forward", lambda: _conv(7, 2, 2, 3, 5, 5, 3, 2, 1), (0, 1, 2),
                                lambda dout, a: (dout, a[0], a[1], a[3], a[4])),
    "max_pool2d_backward": Gradient("max_pool2d_forward", lambda: (_distinct(7, (2, 2, 6, 6)), 3, 2), (0,),
                                    lambda dout, a: (dout, *a)),
    "avg_pool2d_backward": Gradient("avg_pool2d_forward", lambda: (_normal(np.random.default_rng(7), (2, 2, 5, 5)),
                                                                   2, 1), (0,),
                                    lambda dout, a: (dout, a[0].shape, a[1], a[2])),
    "relu_backward": Gradient("relu_forward", lambda: (_away_from_zero(7, (2, 3, 4, 4)),), (0,),
                              lambda dout, a: (dout, a[0])),
    "dense_backward": Gradient("dense_forward", lambda: _dense(7, 4, 5, 3), (0, 1, 2),
                               lambda dout, a: (dout, a[0], a[1])),
    "batchnorm_backward": Gradient("batchnorm_forward", lambda: _batchnorm(7, (4, 3, 2, 2), 1e-5), (0, 1, 2),
                                   lambda dout, a: (dout, a[0], a[1], a[3])),
    "softmax_cross_entropy": Gradient(None, lambda: _logits(7, 4, 5), (0,), None),
}
