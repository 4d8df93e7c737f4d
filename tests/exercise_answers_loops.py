"""A correct set of answers to minicnn's exercises, written by hand as a learner would, with
loops and without minicnn: tests/test_exercises.py checks that the checker passes them and
that `train --quick` reaches minicnn's own accuracy with them.

conv2d_forward is the plain loop over every output pixel (the checker only runs it). The
functions the CNN trains with loop over the kernel offsets (i, j) and are vectorised over
the batch, the channels and the output pixels (a loop over every pixel would take hours on
MNIST): the way a learner writes them after the first exercise.
"""
import numpy as np


def _pad(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def _size(n, k, stride, padding=0):
    return (n + 2 * padding - k) // stride + 1


def _tap(a, i, j, stride, oh, ow):
    """What offset (i, j) of every window sees: (..., OH, OW)."""
    return a[..., i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]


def conv2d_forward(x, W, b, stride, padding):
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = _pad(x, padding)
    oh, ow = _size(h, kh, stride, padding), _size(w, kw, stride, padding)
    out = np.zeros((n, o, oh, ow), dtype=x.dtype)
    for s in range(n):
        for f in range(o):
            for r in range(oh):
                for q in range(ow):
                    total = b[f]
                    for k in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                total += W[f, k, i, j] * xp[s, k, r * stride + i, q * stride + j]
                    out[s, f, r, q] = total
    return out


def im2col(x, kh, kw, stride, padding):
    n, c, h, w = x.shape
    xp = _pad(x, padding)
    oh, ow = _size(h, kh, stride, padding), _size(w, kw, stride, padding)
    cols = np.empty((n, oh, ow, c, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, :, i, j] = _tap(xp, i, j, stride, oh, ow).transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * kh * kw)


def conv2d_forward_im2col(x, W, b, stride, padding):
    n, _, h, w = x.shape
    o, _, kh, kw = W.shape
    oh, ow = _size(h, kh, stride, padding), _size(w, kw, stride, padding)
    y = im2col(x, kh, kw, stride, padding) @ W.reshape(o, -1).T + b
    return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2).astype(x.dtype)


def conv2d_backward(dout, x, W, stride, padding):
    o, _, kh, kw = W.shape
    oh, ow = dout.shape[2:]
    xp = _pad(x, padding)
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    for i in range(kh):
        for j in range(kw):
            dW[:, :, i, j] = np.einsum("norc,nkrc->ok", dout, _tap(xp, i, j, stride, oh, ow))
            _tap(dxp, i, j, stride, oh, ow)[...] += np.einsum("norc,ok->nkrc", dout, W[:, :, i, j])
    h, w = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w], dW, dout.sum(axis=(0, 2, 3))


def max_pool2d_forward(x, k, stride):
    oh, ow = _size(x.shape[2], k, stride), _size(x.shape[3], k, stride)
    out = _tap(x, 0, 0, stride, oh, ow).copy()
    for i in range(k):
        for j in range(k):
            out = np.maximum(out, _tap(x, i, j, stride, oh, ow))
    return out


def max_pool2d_backward(dout, x, k, stride):
    oh, ow = dout.shape[2:]
    best = _tap(x, 0, 0, stride, oh, ow).copy()
    where = np.zeros(best.shape, dtype=int)          # offset i*k + j of the first maximum
    for i in range(k):
        for j in range(k):
            seen = _tap(x, i, j, stride, oh, ow)
            better = seen > best
            best = np.where(better, seen, best)
            where = np.where(better, i * k + j, where)
    dx = np.zeros_like(x)
    for i in range(k):
        for j in range(k):
            _tap(dx, i, j, stride, oh, ow)[...] += dout * (where == i * k + j)
    return dx


def avg_pool2d_forward(x, k, stride):
    oh, ow = _size(x.shape[2], k, stride), _size(x.shape[3], k, stride)
    out = np.zeros((*x.shape[:2], oh, ow), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            out += _tap(x, i, j, stride, oh, ow)
    return out / x.dtype.type(k * k)


def avg_pool2d_backward(dout, x_shape, k, stride):
    oh, ow = dout.shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for i in range(k):
        for j in range(k):
            _tap(dx, i, j, stride, oh, ow)[...] += dout / dout.dtype.type(k * k)
    return dx


def relu_forward(x):
    return np.where(x > 0, x, 0).astype(x.dtype)


def relu_backward(dout, x):
    return np.where(x > 0, dout, 0).astype(dout.dtype)


def dense_forward(x, W, b):
    return x @ W + b


def dense_backward(dout, x, W):
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def softmax_cross_entropy(logits, labels):
    n = len(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(n), labels].mean()
    dlogits = np.exp(log_p)
    dlogits[np.arange(n), labels] -= 1
    return float(loss), (dlogits / n).astype(logits.dtype)


def batchnorm_forward(x, gamma, beta, eps):
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)


def batchnorm_backward(dout, x, gamma, eps):
    # the classic derivation, step by step through the graph x -> mu -> var -> x_hat -> out
    m = x.size // x.shape[1]
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    dx_hat = dout * gamma.reshape(1, -1, 1, 1)
    dvar = (dx_hat * (x - mu)).sum(axis=(0, 2, 3), keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = -dx_hat.sum(axis=(0, 2, 3), keepdims=True) / np.sqrt(var + eps) \
        + dvar * (-2 * (x - mu)).mean(axis=(0, 2, 3), keepdims=True)
    dx = dx_hat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m + dmu / m
    return dx.astype(x.dtype), (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def sgd_momentum_step(w, dw, v, lr, momentum):
    v = momentum * v + dw
    return w - lr * v, v
