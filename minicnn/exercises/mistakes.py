"""The common mistakes, each computed: a function with the exercise's signature that returns
the one output the mistake gets wrong, wrong in exactly that way.

The checker compares a wrong answer with these, output by output, and names the mistake
it matches ("your dx equals the true dx computed with the kernel not flipped"). Most are
minicnn's own answer (:mod:`.reference`) with one thing changed; the few that no
reference call can make (max pooling's tie rules, windows that overwrite instead of add)
are written out with a loop over the windows, which is fine on the checker's small inputs.

``MISTAKES[exercise]`` lists ``(output, diagnosis, function)``.
"""
import numpy as np

from . import reference as R


def _flip(W):
    """The kernel turned by 180 degrees (a true convolution's kernel)."""
    return W[..., ::-1, ::-1]


def _pad(x, padding):
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def _windows(shape, k, stride):
    """Every window's (row, column) slices of a (..., H, W) map, in row-major order."""
    h, w = shape[-2:]
    return [(slice(r, r + k), slice(c, c + k))
            for r in range(0, h - k + 1, stride) for c in range(0, w - k + 1, stride)]


def _scatter(dout, x_shape, k, stride, share):
    """dx with window number ``t``'s gradient put back by ``share(t, window, grad)``, which
    returns what lands on the window's k x k pixels, or (pixels, True) to overwrite them."""
    dx = np.zeros(x_shape, dout.dtype)
    oh, ow = dout.shape[-2:]
    for t, (rows, cols) in enumerate(_windows(x_shape, k, stride)):
        grad = dout[..., t // ow, t % ow][..., None, None]
        part, overwrite = share(t, (rows, cols), grad)
        if overwrite:
            dx[..., rows, cols] = np.where(part != 0, part, dx[..., rows, cols])
        else:
            dx[..., rows, cols] += part
    return dx


def _max_routes(x, k, stride, rule):
    """share() of max pooling: the window's gradient on its maxima chosen by ``rule``."""
    def share(t, window, grad):
        values = x[(...,) + window]
        flat = values.reshape(*values.shape[:-2], -1)
        top = flat.max(axis=-1, keepdims=True)
        if rule == "every":
            mask = flat == top
        else:
            order = flat.shape[-1] - 1 - np.argmax((flat == top)[..., ::-1], axis=-1) if rule == "last" \
                else np.argmax(flat == top, axis=-1)
            mask = np.arange(flat.shape[-1]) == order[..., None]
        return (grad * mask.reshape(values.shape)).astype(grad.dtype), rule == "overwrite"
    return share


# -- conv2d_forward, conv2d_forward_im2col -------------------------------------------
def conv_kernel_flipped(x, W, b, stride, padding):
    return R.conv2d_forward(x, _flip(W).copy(), b, stride, padding)


def conv_bias_missing(x, W, b, stride, padding):
    return R.conv2d_forward(x, W, np.zeros_like(b), stride, padding)


def conv_stride_ignored(x, W, b, stride, padding):
    return R.conv2d_forward(x, W, b, 1, padding)


def conv_padding_ignored(x, W, b, stride, padding):
    return R.conv2d_forward(x, W, b, stride, 0)


def conv_reshaped_not_transposed(x, W, b, stride, padding):
    out = R.conv2d_forward(x, W, b, stride, padding)
    n, o, oh, ow = out.shape
    return out.transpose(0, 2, 3, 1).reshape(n, o, oh, ow)      # the (N*OH*OW, O) product, reshaped


# -- im2col ------------------------------------------------------------------------------
def im2col_transposed(x, kh, kw, stride, padding):
    return R.im2col(x, kh, kw, stride, padding).T


def im2col_channels_last(x, kh, kw, stride, padding):
    cols = R.im2col(x, kh, kw, stride, padding)
    return cols.reshape(len(cols), x.shape[1], kh, kw).transpose(0, 2, 3, 1).reshape(len(cols), -1)


def im2col_padding_ignored(x, kh, kw, stride, padding):
    return R.im2col(x, kh, kw, stride, 0)


def im2col_stride_ignored(x, kh, kw, stride, padding):
    return R.im2col(x, kh, kw, 1, padding)


# -- conv2d_backward ---------------------------------------------------------------------
def conv_dx_kernel_not_flipped(dout, x, W, stride, padding):
    return R.conv2d_backward(dout, x, _flip(W).copy(), stride, padding)[0]


def conv_dx_not_cropped(dout, x, W, stride, padding):
    return R.conv2d_backward(dout, _pad(x, padding), W, stride, 0)[0]


def conv_db_not_summed_over_batch(dout, x, W, stride, padding):
    return dout.sum(axis=(2, 3))


def conv_db_averaged(dout, x, W, stride, padding):
    return dout.sum(axis=(0, 2, 3)) / dout.dtype.type(len(dout))


def conv_dw_averaged(dout, x, W, stride, padding):
    return R.conv2d_backward(dout, x, W, stride, padding)[1] / dout.dtype.type(len(dout))


def conv_dw_flipped(dout, x, W, stride, padding):
    return _flip(R.conv2d_backward(dout, x, W, stride, padding)[1])


# -- max pooling ---------------------------------------------------------------------------
def max_pool_averages(x, k, stride):
    return R.avg_pool2d_forward(x, k, stride)


def max_pool_stride_ignored(x, k, stride):
    return R.max_pool2d_forward(x, k, k)


def max_pool_ties_to_every_maximum(dout, x, k, stride):
    return _scatter(dout, x.shape, k, stride, _max_routes(x, k, stride, "every"))


def max_pool_ties_to_last_maximum(dout, x, k, stride):
    return _scatter(dout, x.shape, k, stride, _max_routes(x, k, stride, "last"))


def max_pool_gradient_overwritten(dout, x, k, stride):
    return _scatter(dout, x.shape, k, stride, _max_routes(x, k, stride, "overwrite"))


def max_pool_spread_evenly(dout, x, k, stride):
    return R.avg_pool2d_backward(dout, x.shape, k, stride)


# -- average pooling -----------------------------------------------------------------------
def avg_pool_not_divided(x, k, stride):
    return R.avg_pool2d_forward(x, k, stride) * x.dtype.type(k * k)


def avg_pool_divided_by_k(x, k, stride):
    return R.avg_pool2d_forward(x, k, stride) * x.dtype.type(k)


def avg_pool_stride_ignored(x, k, stride):
    return R.avg_pool2d_forward(x, k, k)


def avg_pool_backward_not_divided(dout, x_shape, k, stride):
    return R.avg_pool2d_backward(dout, x_shape, k, stride) * dout.dtype.type(k * k)


def avg_pool_backward_overwritten(dout, x_shape, k, stride):
    share = lambda t, window, grad: (np.broadcast_to(grad / grad.dtype.type(k * k), (*grad.shape[:-2], k, k)), True)
    return _scatter(dout, x_shape, k, stride, share)


# -- ReLU ----------------------------------------------------------------------------------
def relu_returns_mask(x):
    return (x > 0).astype(x.dtype)


def relu_keeps_negative_part(x):
    return np.minimum(x, 0)


def relu_backward_uses_output(dout, x):
    return dout * np.maximum(x, 0)


def relu_backward_at_zero(dout, x):
    return dout * (x >= 0)


def relu_backward_passes_everything(dout, x):
    return dout.copy()


def relu_backward_mask_of_dout(dout, x):
    return dout * (dout > 0)


# -- Dense ---------------------------------------------------------------------------------
def dense_bias_missing(x, W, b):
    return x @ W


def dense_weight_transposed(x, W, b):
    return x @ W.T + b


def dense_dw_transposed(dout, x, W):
    return dout.T @ x


def dense_db_not_summed(dout, x, W):
    return dout.copy()


def dense_db_averaged(dout, x, W):
    return dout.mean(axis=0)


def dense_dw_averaged(dout, x, W):
    return x.T @ dout / dout.dtype.type(len(dout))


def dense_dx_not_transposed(dout, x, W):
    return dout @ W


# -- softmax cross-entropy -------------------------------------------------------------------
def _naive_softmax(logits, axis=1):
    with np.errstate(all="ignore"):
        e = np.exp(logits)
        return e / e.sum(axis=axis, keepdims=True)


def _onehot(labels, logits):
    t = np.zeros_like(logits)
    t[np.arange(len(labels)), labels] = 1
    return t


def _true_probs(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ce_overflow_loss(logits, labels):
    with np.errstate(all="ignore"):
        return -np.log(_naive_softmax(logits)[np.arange(len(labels)), labels]).mean()


def ce_overflow_grad(logits, labels):
    return (_naive_softmax(logits) - _onehot(labels, logits)) / logits.dtype.type(len(logits))


def ce_log_of_softmax_underflows(logits, labels):
    with np.errstate(all="ignore"):
        return -np.log(_true_probs(logits)[np.arange(len(labels)), labels]).mean()


def ce_loss_summed(logits, labels):
    return R.softmax_cross_entropy(logits, labels)[0] * len(logits)


def ce_loss_per_sample(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels]


def ce_grad_not_divided(logits, labels):
    return R.softmax_cross_entropy(logits, labels)[1] * logits.dtype.type(len(logits))


def ce_grad_missing_onehot(logits, labels):
    return _true_probs(logits) / logits.dtype.type(len(logits))


def ce_grad_sign(logits, labels):
    return -R.softmax_cross_entropy(logits, labels)[1]


def ce_softmax_over_batch(logits, labels):
    z = logits - logits.max(axis=0, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)
    return (p - _onehot(labels, logits)) / logits.dtype.type(len(logits))


# -- BatchNorm -------------------------------------------------------------------------------
def _normalise(x, gamma, beta, eps, axes, ddof=0, eps_outside=False):
    """gamma * (x - mean) / sqrt(var + eps) + beta with the statistics over ``axes``."""
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    per_channel = lambda a: a.reshape(1, -1, *(1,) * (x.ndim - 2))
    return (per_channel(gamma) * (x - mean) / std + per_channel(beta)).astype(x.dtype)


def bn_unbiased_variance(x, gamma, beta, eps):
    return _normalise(x, gamma, beta, eps, (0, 2, 3), ddof=1)


def bn_per_pixel(x, gamma, beta, eps):
    return _normalise(x, gamma, beta, eps, (0,))


def bn_all_channels_together(x, gamma, beta, eps):
    return _normalise(x, gamma, beta, eps, (0, 1, 2, 3))


def bn_per_sample(x, gamma, beta, eps):
    return _normalise(x, gamma, beta, eps, (1, 2, 3))


def bn_eps_outside_sqrt(x, gamma, beta, eps):
    return _normalise(x, gamma, beta, eps, (0, 2, 3), eps_outside=True)


def _bn_parts(dout, x, gamma, eps):
    """x_hat, gamma * inv_std (both broadcast per channel) and the means of dout and dout * x_hat."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)
    x_hat = (x - mean) * inv_std
    scale = gamma.reshape(1, -1, 1, 1) * inv_std
    return x_hat, scale, dout.mean(axis=(0, 2, 3), keepdims=True), (dout * x_hat).mean(axis=(0, 2, 3), keepdims=True)


def bn_ignores_mean(dout, x, gamma, eps):
    x_hat, scale, _, mean_dy_xhat = _bn_parts(dout, x, gamma, eps)
    return (scale * (dout - x_hat * mean_dy_xhat)).astype(x.dtype)


def bn_ignores_variance(dout, x, gamma, eps):
    _, scale, mean_dy, _ = _bn_parts(dout, x, gamma, eps)
    return (scale * (dout - mean_dy)).astype(x.dtype)


def bn_statistics_constant(dout, x, gamma, eps):
    return (_bn_parts(dout, x, gamma, eps)[1] * dout).astype(x.dtype)


def bn_dgamma_with_x(dout, x, gamma, eps):
    return (dout * x).sum(axis=(0, 2, 3))


def bn_dgamma_batch_only(dout, x, gamma, eps):
    return (dout * _bn_parts(dout, x, gamma, eps)[0]).sum(axis=0).astype(x.dtype)


def bn_dbeta_batch_only(dout, x, gamma, eps):
    return dout.sum(axis=0)


# -- SGD with momentum -------------------------------------------------------------------------
def sgd_ascent(w, dw, v, lr, momentum):
    return w + w.dtype.type(lr) * (w.dtype.type(momentum) * v + dw)


def sgd_old_velocity(w, dw, v, lr, momentum):
    return w - w.dtype.type(lr) * v


def sgd_cs231n_velocity(w, dw, v, lr, momentum):
    return w.dtype.type(momentum) * v - w.dtype.type(lr) * dw


def sgd_cs231n_step(w, dw, v, lr, momentum):
    return w + sgd_cs231n_velocity(w, dw, v, lr, momentum)


def sgd_dampened_velocity(w, dw, v, lr, momentum):
    mu = w.dtype.type(momentum)
    return mu * v + (1 - mu) * dw


def sgd_dampened_step(w, dw, v, lr, momentum):
    return w - w.dtype.type(lr) * sgd_dampened_velocity(w, dw, v, lr, momentum)


def sgd_plain(w, dw, v, lr, momentum):
    return w - w.dtype.type(lr) * dw


def sgd_velocity_not_updated(w, dw, v, lr, momentum):
    return v.copy()


FLIP = ("the kernel turned by 180 degrees: that is a true convolution (scipy's convolve2d); a CNN's "
        "convolution is a cross-correlation, out[n, o, r, c] = b[o] + sum W[o, k, i, j] * "
        "x_pad[n, k, r*stride + i, c*stride + j], the kernel as written (step 2)")
_CONV = [
    ("out", "your output is computed with " + FLIP, conv_kernel_flipped),
    ("out", "the bias is missing: add b[o] to every pixel of output channel o", conv_bias_missing),
    ("out", "stride is ignored: the windows step by 1 instead of by stride (out[r, c] starts at "
            "row r*stride, column c*stride; step 7)", conv_stride_ignored),
    ("out", "padding is ignored: pad x with `padding` zeros on every side of H and W first (step 3)",
     conv_padding_ignored),
]
_CE_N = "the loss is the mean over the batch, so its gradient is divided by N too"
_BN_M = "m = N*H*W values per channel"
_SUM = "sum it (dout already holds the 1/N of a mean loss)"
_STRIDE_K = "stride is ignored: the windows step by k instead of by stride"
_OVERWRITE = "overlapping windows overwrite each other's gradient: add (+=) into dx, do not assign"
_OVERFLOW = "softmax overflows for logits of 1000: subtract each row's maximum before exp (the softmax does not change)"
_CS231N = ("that is CS231n's form (v = momentum * v - lr * dw, w = w + v): this exercise keeps PyTorch's "
           "(and minicnn's) v = momentum * v + dw, w = w - lr * v")
_DAMPED = ("the velocity is damped, v = momentum * v + (1 - momentum) * dw (an average, Adam's first moment): "
           "SGD's momentum adds the whole gradient, v = momentum * v + dw")

MISTAKES = {
    "conv2d_forward": _CONV,
    "im2col": [
        ("cols", "your matrix is the transpose of the asked one (it is minicnn's own layout, "
                 "(C*kh*kw, N*OH*OW)): here one row per window (n, oh, ow), one column per (c, i, j)",
         im2col_transposed),
        ("cols", "the columns are ordered (i, j, c), channels last, as TensorFlow's image patches; "
                 "the exercise orders them (c, i, j), as W.reshape(O, -1) is", im2col_channels_last),
        ("cols", "padding is ignored: pad x with `padding` zeros on every side first", im2col_padding_ignored),
        ("cols", "stride is ignored: the windows step by 1 instead of by stride", im2col_stride_ignored),
    ],
    "conv2d_forward_im2col": _CONV + [
        ("out", "the (N*OH*OW, O) product was reshaped straight to (N, O, OH, OW): its rows are "
                "(n, oh, ow), so reshape it to (N, OH, OW, O) and transpose to (N, O, OH, OW)",
         conv_reshaped_not_transposed),
    ],
    "conv2d_backward": [
        ("dx", "your dx equals the true dx computed with the kernel not flipped: dx is the full "
               "convolution of dout with W, which is a correlation with W turned by 180 degrees; or "
               "scatter each dout[n, o, r, c] * W[o] back onto the window it came from (step 13)",
         conv_dx_kernel_not_flipped),
        ("dx", "the padding rows were not cropped from dx: dx is the gradient of the padded input; "
               "drop its first and last `padding` rows and columns", conv_dx_not_cropped),
        ("db", "db is not summed over the batch: db[o] = sum of dout[:, o] over n, r and c",
         conv_db_not_summed_over_batch),
        ("db", "db is averaged over the batch: " + _SUM, conv_db_averaged),
        ("dW", "dW is averaged over the batch: " + _SUM, conv_dw_averaged),
        ("dW", "your dW is turned by 180 degrees: dW[o, c, i, j] = sum over n, r, s of dout[n, o, r, s] * "
               "x_pad[n, c, r*stride + i, s*stride + j]", conv_dw_flipped),
    ],
    "max_pool2d_forward": [
        ("out", "your output is the mean of each window, not its maximum", max_pool_averages),
        ("out", _STRIDE_K, max_pool_stride_ignored),
    ],
    "max_pool2d_backward": [
        ("dx", "max pool ties go to every maximum instead of the first: when several pixels of a window "
               "hold its maximum, only the first in row-major order gets the gradient (PyTorch's rule)",
         max_pool_ties_to_every_maximum),
        ("dx", "max pool ties go to the last maximum instead of the first (row-major order, PyTorch's "
               "rule): move to a later pixel only when it is strictly greater", max_pool_ties_to_last_maximum),
        ("dx", _OVERWRITE, max_pool_gradient_overwritten),
        ("dx", "the gradient is spread evenly over the window, as average pooling does: max pooling "
               "routes all of it to the maximum", max_pool_spread_evenly),
    ],
    "avg_pool2d_forward": [
        ("out", "avg pool is not divided: that is the sum of each window; divide by k*k", avg_pool_not_divided),
        ("out", "divided by k instead of k*k (a window holds k*k pixels)", avg_pool_divided_by_k),
        ("out", _STRIDE_K, avg_pool_stride_ignored),
    ],
    "avg_pool2d_backward": [
        ("dx", "avg pool backward is not divided: each of a window's k*k pixels gets dout / (k*k)",
         avg_pool_backward_not_divided),
        ("dx", _OVERWRITE, avg_pool_backward_overwritten),
    ],
    "relu_forward": [
        ("out", "your output is the mask (x > 0): ReLU keeps the value, max(x, 0)", relu_returns_mask),
        ("out", "your output keeps the negative part: ReLU is max(x, 0), not min", relu_keeps_negative_part),
    ],
    "relu_backward": [
        ("dx", "relu backward uses the output: dx = dout * (x > 0), the mask, not dout * max(x, 0)",
         relu_backward_uses_output),
        ("dx", "relu backward uses x >= 0: at x == 0 the gradient is 0 (x > 0), as minicnn's and "
               "PyTorch's ReLU have it", relu_backward_at_zero),
        ("dx", "relu backward passes dout through unchanged: zero it where x <= 0",
         relu_backward_passes_everything),
        ("dx", "the mask is taken from dout > 0: it must come from the input, x > 0", relu_backward_mask_of_dout),
    ],
    "dense_forward": [
        ("out", "the bias is missing: out = x @ W + b", dense_bias_missing),
        ("out", "W is used transposed: minicnn's W is (in, out), so out = x @ W + b (PyTorch's Linear "
                "keeps the transpose, (out, in))", dense_weight_transposed),
    ],
    "dense_backward": [
        ("dW", "dense dW is transposed: W is (in, out), so dW = x.T @ dout, also (in, out)", dense_dw_transposed),
        ("dW", "dW is averaged over the batch: x.T @ dout already sums it, and dout holds the 1/N",
         dense_dw_averaged),
        ("db", "db is not summed over the batch: db = dout.sum(axis=0)", dense_db_not_summed),
        ("db", "db is averaged over the batch: " + _SUM, dense_db_averaged),
        ("dx", "dx = dout @ W: W must be transposed, dx = dout @ W.T", dense_dx_not_transposed),
    ],
    "softmax_cross_entropy": [
        ("loss", _OVERFLOW, ce_overflow_loss),
        ("dlogits", _OVERFLOW, ce_overflow_grad),
        ("loss", "log(softmax) underflows: a probability of 1e-400 is 0 in floating point and its log "
                 "-inf; compute log_softmax = z - max - log(sum(exp(z - max))) directly",
         ce_log_of_softmax_underflows),
        ("loss", "the loss is summed over the batch: take the mean", ce_loss_summed),
        ("loss", "the loss is one number per sample: return their mean", ce_loss_per_sample),
        ("dlogits", "dlogits is not divided by the batch size: " + _CE_N, ce_grad_not_divided),
        ("dlogits", "dlogits is missing the -1 at the true class: dlogits = (softmax - onehot(labels)) / N",
         ce_grad_missing_onehot),
        ("dlogits", "dlogits has the wrong sign: it is (softmax - onehot) / N, the loss grows with "
                    "the wrong classes' scores", ce_grad_sign),
        ("dlogits", "the softmax runs over the batch axis (0): it normalises each row, over the classes "
                    "(axis 1)", ce_softmax_over_batch),
    ],
    "batchnorm_forward": [
        ("out", "the variance is the unbiased one (divided by m - 1): BatchNorm normalises with the "
                "biased variance, divided by m (" + _BN_M + ")", bn_unbiased_variance),
        ("out", "the statistics are per pixel (means over N only): BatchNorm for images takes them per "
                "channel, over N, H and W (axis=(0, 2, 3))", bn_per_pixel),
        ("out", "the statistics are over all channels together: take them per channel, axis=(0, 2, 3)",
         bn_all_channels_together),
        ("out", "the statistics are per sample (that is LayerNorm): BatchNorm takes them per channel "
                "over the batch, axis=(0, 2, 3)", bn_per_sample),
        ("out", "eps is added to the standard deviation: it goes under the root, sqrt(var + eps)",
         bn_eps_outside_sqrt),
    ],
    "batchnorm_backward": [
        ("dx", "BatchNorm backward ignores the gradient through the mean: the mean depends on every "
               "x, which adds -mean(dout) inside: dx = gamma * inv_std * (dout - mean(dout) - "
               "x_hat * mean(dout * x_hat))", bn_ignores_mean),
        ("dx", "BatchNorm backward ignores the gradient through the variance: it adds "
               "-x_hat * mean(dout * x_hat) inside the bracket", bn_ignores_variance),
        ("dx", "BatchNorm backward treats the mean and the variance as constants: in training they "
               "depend on x (dx = gamma * inv_std * (dout - mean(dout) - x_hat * mean(dout * x_hat)))",
         bn_statistics_constant),
        ("dgamma", "dgamma uses x instead of the normalised x_hat: dgamma = sum(dout * x_hat) per channel",
         bn_dgamma_with_x),
        ("dgamma", "dgamma is summed over the batch only: sum over N, H and W (" + _BN_M + ")",
         bn_dgamma_batch_only),
        ("dbeta", "dbeta is summed over the batch only: sum over N, H and W (" + _BN_M + ")",
         bn_dbeta_batch_only),
    ],
    "sgd_momentum_step": [
        ("w", "the step goes uphill: w = w - lr * v (the sign of the update)", sgd_ascent),
        ("w", "w moved with the old velocity: update v first (v = momentum * v + dw), then w = w - lr * v",
         sgd_old_velocity),
        ("w", _CS231N, sgd_cs231n_step),
        ("v", _CS231N, sgd_cs231n_velocity),
        ("w", _DAMPED, sgd_dampened_step),
        ("v", _DAMPED, sgd_dampened_velocity),
        ("w", "the momentum is not used: w moved by lr * dw alone (plain SGD); move it by lr * v, the new "
              "velocity v = momentum * v + dw", sgd_plain),
        ("v", "the velocity is returned as it came in: return the updated v", sgd_velocity_not_updated),
    ],
}
