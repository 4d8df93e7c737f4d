"""Stateless math behind the layers: sliding windows, im2col/col2im, convolution,
pooling and the activation functions.

Everything here works on NCHW arrays and keeps the input's dtype. The functions
trust their arguments (the layers in :mod:`minicnn.layers` check them), so they
are the place to read how the computation itself goes.

The one idea that serves convolution, pooling and the image toolkit alike is
:func:`sliding_windows`: a strided *view* of an array in which
``windows[..., i, j, :, :]`` is the whole image as seen through tap ``(i, j)``
of the kernel. Convolution multiplies those views by one weight each (im2col
copies them into a matrix for one big product), pooling takes their maximum or
mean, and the backward passes add gradients back through the same views, one
kernel offset at a time (a loop of ``kh * kw`` vectorised steps).
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided


# ---------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """Output length along one axis: ``(size + pad - dilation*(kernel-1) - 1) // stride + 1``.

    ``padding`` is the total padding added on that axis (both sides together).
    """
    return (size + padding - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(kernel, dilation=1):
    """Padding ``(before, after)`` that keeps the size at stride 1.

    The total is ``dilation * (kernel - 1)``; an odd total puts the extra
    row/column at the bottom/right, as PyTorch does.
    """
    total = dilation * (kernel - 1)
    return (total // 2, total - total // 2)


def pad2d(x, pads, value=0.0):
    """Pad the last two axes of ``x``: ``pads = ((top, bottom), (left, right))``.

    Allocating the output once and copying ``x`` into its middle is faster than
    ``np.pad`` and keeps the dtype.
    """
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    *lead, h, w = x.shape
    out = np.full((*lead, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[..., top:top + h, left:left + w] = x
    return out


def unpad2d(x, pads):
    """Inverse of :func:`pad2d`: a view of the middle of ``x``."""
    (top, bottom), (left, right) = pads
    h, w = x.shape[-2:]
    return x[..., top:h - bottom, left:w - right]


def sliding_windows(x, kernel_size, stride=(1, 1), dilation=(1, 1), writeable=False, grid=None):
    """Strided view of every kernel window over the last two axes of ``x``.

    x: (..., H, W)  ->  windows: (..., kh, kw, OH, OW), with
    ``windows[..., i, j, oh, ow] = x[..., oh*sh + i*dh, ow*sw + j*dw]``.

    No data is copied. ``windows[..., i, j, :, :]`` is the strided slice of
    ``x`` that kernel tap ``(i, j)`` sees. With ``writeable=True`` the view can
    be used to *add into* ``x`` one tap at a time (as col2im does); within one
    tap no two windows share a pixel, so such an add never races with itself.

    ``grid=(OH, OW)`` overrides the number of window positions. The convolution
    uses it for its "wide grid" (see :func:`conv_grid`); the caller then
    guarantees that every window stays inside the memory of ``x``.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    *lead, h, w = x.shape
    if grid is None:
        grid = (conv_output_size(h, kh, sh, 0, dh), conv_output_size(w, kw, sw, 0, dw))
    oh, ow = grid
    *lead_strides, s_h, s_w = x.strides
    shape = (*lead, kh, kw, oh, ow)
    strides = (*lead_strides, s_h * dh, s_w * dw, s_h * sh, s_w * sw)
    return as_strided(x, shape=shape, strides=strides, writeable=writeable)


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------
def im2col(x_pad, kernel_size, stride, dilation, grid=None):
    """Unfold a padded batch into the im2col matrix.

    x_pad: (N, C, H, W)  ->  cols: (C*kh*kw, N*OH*OW)

    One column per output pixel, one row per (channel, kernel tap): the
    convolution becomes ``W.reshape(O, -1) @ cols``. The reshape of the
    window view is the single copy. ``grid``: see :func:`sliding_windows`.
    """
    win = sliding_windows(x_pad, kernel_size, stride, dilation, grid=grid)   # (N, C, kh, kw, OH, OW)
    n, c, kh, kw, oh, ow = win.shape
    return win.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * oh * ow)


def col2im(cols, x_pad_shape, kernel_size, stride, dilation, grid=None):
    """Adjoint of :func:`im2col`: add every column back onto the pixels it came from.

    cols: (C*kh*kw, N*OH*OW)  ->  (N, C, H, W) (the padded shape)

    Overlapping windows add up. The loop runs over the ``kh*kw`` kernel taps;
    each step is one vectorised, strided add (no ``np.add.at``).
    """
    out = np.zeros(x_pad_shape, dtype=cols.dtype)
    win = sliding_windows(out, kernel_size, stride, dilation, writeable=True, grid=grid)
    n, c, kh, kw, oh, ow = win.shape
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    for i in range(kh):
        for j in range(kw):
            win[:, :, i, j] += cols[:, i, j].transpose(1, 0, 2, 3)
    return out


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------
def conv_grid(x_shape, kernel_size, stride, pads, dilation):
    """Geometry of a convolution: ``(output (OH, OW), grid (GH, GW), pads of x_pad)``.

    The *grid* is the set of window positions im2col unfolds. For stride 1 it
    is "wide": every row as wide as the padded image (GW = W + left + right,
    not OW). The extra columns of a row straddle into the next image row and
    give outputs that are thrown away, but in exchange each window row is one
    contiguous run of memory, so the im2col copy and the col2im adds work on
    long rows instead of rows of OW values: several times faster in NumPy, for
    ~(GW/OW - 1) more matrix-product work. One extra zero row at the bottom of
    x_pad keeps the last windows' overhang inside the array.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    (top, bottom), (left, right) = pads
    h, w = x_shape[-2:]
    oh = conv_output_size(h + top + bottom, kh, sh, 0, dh)
    ow = conv_output_size(w + left + right, kw, sw, 0, dw)
    if (sh, sw) != (1, 1):
        return (oh, ow), (oh, ow), pads
    return (oh, ow), (oh, w + left + right), ((top, bottom + 1), (left, right))


def conv2d_forward(x, weight, bias, stride, pads, dilation):
    """2-D cross-correlation (PyTorch's ``conv2d``) by im2col and one matrix product.

    x: (N, C, H, W), weight: (O, C, kh, kw), bias: (O,) or None,
    pads: ((top, bottom), (left, right)).

    out[n, o, y, x] = b[o] + sum_{c,i,j} W[o, c, i, j] * x_pad[n, c, y*sh + i*dh, x*sw + j*dw]

    Returns ``(out, cols)``; ``cols`` is what the backward pass needs.
    """
    o, _, kh, kw = weight.shape
    (oh, ow), grid, grid_pads = conv_grid(x.shape, (kh, kw), stride, pads, dilation)
    cols = im2col(pad2d(x, grid_pads), (kh, kw), stride, dilation, grid)   # (C*kh*kw, N*GH*GW)
    out = weight.reshape(o, -1).astype(x.dtype, copy=False) @ cols           # (O, N*GH*GW)
    if bias is not None:
        out += bias.astype(x.dtype, copy=False)[:, None]
    out = out.reshape(o, x.shape[0], *grid)[:, :, :oh, :ow]                 # drop the grid's extra columns
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3)), cols


def conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad=True):
    """Gradients of :func:`conv2d_forward`.

    grad_out: (N, O, OH, OW). Returns ``(dx, dW, db)`` with
    dW = dY @ cols.T, dcols = W.T @ dY, dx = col2im(dcols), db = sum of dY
    (dY being grad_out laid out as (O, N*GH*GW), zero on the grid's extra
    columns). ``dx`` is None when ``input_grad`` is False (the first layer of
    a network needs no dx).
    """
    o, _, kh, kw = weight.shape
    n, c, h, w = x_shape
    (oh, ow), grid, grid_pads = conv_grid(x_shape, (kh, kw), stride, pads, dilation)
    dy = np.zeros((o, n, *grid), dtype=grad_out.dtype)
    dy[:, :, :oh, :ow] = grad_out.transpose(1, 0, 2, 3)
    dy = dy.reshape(o, -1)                                           # (O, N*GH*GW)
    db = dy.sum(axis=1)
    dw = (dy @ cols.T).reshape(weight.shape)
    if not input_grad:
        return None, dw, db
    dcols = weight.reshape(o, -1).astype(grad_out.dtype, copy=False).T @ dy   # (C*kh*kw, N*GH*GW)
    (top, bottom), (left, right) = grid_pads
    dx_pad = col2im(dcols, (n, c, h + top + bottom, w + left + right), (kh, kw), stride, dilation, grid)
    return np.ascontiguousarray(unpad2d(dx_pad, grid_pads)), dw, db


# ---------------------------------------------------------------------------
# Pooling: the same windows, reduced by max or mean
# ---------------------------------------------------------------------------
def max_pool2d_forward(x, kernel_size, stride, pads):
    """Max over each window; padding counts as -inf.

    x: (N, C, H, W) -> (N, C, OH, OW). The running maximum over the kh*kw taps
    is one vectorised ``np.maximum`` per tap.
    """
    x_pad = pad2d(x, pads, value=-np.inf)
    win = sliding_windows(x_pad, kernel_size, stride)
    kh, kw = kernel_size
    out = win[:, :, 0, 0].copy()
    for i in range(kh):
        for j in range(kw):
            np.maximum(out, win[:, :, i, j], out=out)
    return out, x_pad


def max_pool2d_backward(grad_out, x_pad, out, kernel_size, stride, pads):
    """Route each window's gradient to its maximum.

    Where a window holds the maximum more than once, the first one in
    row-major order gets it (PyTorch's rule): taps are visited in that order
    and ``taken`` remembers which windows are already served.
    """
    win = sliding_windows(x_pad, kernel_size, stride)
    dx_pad = np.zeros(x_pad.shape, dtype=grad_out.dtype)
    dwin = sliding_windows(dx_pad, kernel_size, stride, writeable=True)
    taken = np.zeros(out.shape, dtype=bool)
    hit = np.empty(out.shape, dtype=bool)
    kh, kw = kernel_size
    overlapping = stride[0] < kh or stride[1] < kw
    for i in range(kh):
        for j in range(kw):
            np.equal(win[:, :, i, j], out, out=hit)
            np.logical_and(hit, ~taken, out=hit)     # only the first maximum of a window
            taken |= hit
            if overlapping:                           # windows share pixels: add
                dwin[:, :, i, j] += grad_out * hit
            else:                                     # each pixel in one window: write
                np.multiply(grad_out, hit, out=dwin[:, :, i, j])
    return unpad2d(dx_pad, pads)


def avg_pool2d_forward(x, kernel_size, stride, pads):
    """Mean over each window; zero padding is counted in the divisor (PyTorch's default)."""
    x_pad = pad2d(x, pads)
    win = sliding_windows(x_pad, kernel_size, stride)
    kh, kw = kernel_size
    out = win[:, :, 0, 0].copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out += win[:, :, i, j]
    out *= out.dtype.type(1.0 / (kh * kw))
    return out


def avg_pool2d_backward(grad_out, x_shape, kernel_size, stride, pads):
    """Each window's gradient, divided by its size, spread over its pixels."""
    (top, bottom), (left, right) = pads
    n, c, h, w = x_shape
    dx_pad = np.zeros((n, c, h + top + bottom, w + left + right), dtype=grad_out.dtype)
    dwin = sliding_windows(dx_pad, kernel_size, stride, writeable=True)
    kh, kw = kernel_size
    share = grad_out * grad_out.dtype.type(1.0 / (kh * kw))
    for i in range(kh):
        for j in range(kw):
            dwin[:, :, i, j] += share
    return unpad2d(dx_pad, pads)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------
def sigmoid(x):
    """1 / (1 + exp(-x)), written so that no ``exp`` ever overflows."""
    e = np.exp(-np.abs(x))                       # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def log_softmax(z, axis=-1):
    """log(softmax(z)) = z - max - log(sum(exp(z - max))): exact for huge logits."""
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(z, axis=-1):
    """exp(z) / sum(exp(z)), shifted by the maximum so that exp never overflows."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
