"""Stateless math behind the layers: sliding windows, im2col/col2im, convolution,
pooling and the activation functions.

Everything here works on NCHW arrays and keeps the input's dtype. The functions
trust their arguments (the layers in :mod:`minicnn.layers` check them), so they
are the place to read how the computation itself goes, except the few that users
call directly, which check theirs: conv_output_size, same_padding, sigmoid,
softmax and log_softmax.

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

from ._checks import check_array, check_int


# ---------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """Output length along one axis: ``(size + pad - dilation*(kernel-1) - 1) // stride + 1``.

    ``padding`` is the total padding added on that axis (both sides together).
    """
    size, kernel = check_int(size, "size", 0), check_int(kernel, "kernel", 1)
    stride, padding = check_int(stride, "stride", 1), check_int(padding, "padding", 0)
    dilation = check_int(dilation, "dilation", 1)
    return (size + padding - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(kernel, dilation=1):
    """Padding ``(before, after)`` that keeps the size at stride 1.

    The total is ``dilation * (kernel - 1)``; an odd total puts the extra
    row/column at the bottom/right, as PyTorch does.
    """
    kernel, dilation = check_int(kernel, "kernel", 1), check_int(dilation, "dilation", 1)
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
def im2col(x_pad, kernel_size, stride, dilation, grid=None, out=None):
    """Unfold a padded batch into the im2col matrix.

    x_pad: (N, C, H, W)  ->  cols: (C*kh*kw, N*GH*GW)

    One column per window position of the grid (GH, GW) (the output pixels
    (OH, OW), or the wider grid of :func:`conv_grid`), one row per (channel,
    kernel tap): the convolution becomes ``W.reshape(O, -1) @ cols``. Copying
    the window view into the matrix is the single copy. ``grid``: see
    :func:`sliding_windows`; without it (GH, GW) = (OH, OW).

    >>> x_pad = np.arange(2 * 3 * 4 * 4.0).reshape(2, 3, 4, 4)        # N=2, C=3, 4x4
    >>> im2col(x_pad, (3, 3), (1, 1), (1, 1)).shape                  # (3*3*3, 2*2*2)
    (27, 8)

    ``out``: an array to write into, used when its shape and dtype are the
    matrix's (the backward pass hands over the forward's ``cols``, which it no
    longer needs, rather than allocate a second matrix of the same size).
    """
    win = sliding_windows(x_pad, kernel_size, stride, dilation, grid=grid)   # (N, C, kh, kw, OH, OW)
    n, c, kh, kw, oh, ow = win.shape
    if not _fits(out, (c * kh * kw, n * oh * ow), x_pad.dtype):
        out = np.empty((c * kh * kw, n * oh * ow), dtype=x_pad.dtype)
    out.reshape(c, kh, kw, n, oh, ow)[...] = win.transpose(1, 2, 3, 0, 4, 5)
    return out


def _fits(buffer, shape, dtype):
    """Can ``buffer`` hold a C-contiguous array of ``shape`` and ``dtype``?"""
    return (isinstance(buffer, np.ndarray) and buffer.shape == shape and buffer.dtype == dtype
            and buffer.flags.c_contiguous and buffer.flags.writeable)


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


def conv2d_forward(x, weight, bias, stride, pads, dilation, cols_buffer=None):
    """2-D cross-correlation (PyTorch's ``conv2d``) by im2col and one matrix product.

    x: (N, C, H, W), weight: (O, C, kh, kw), bias: (O,) or None,
    pads: ((top, bottom), (left, right)).

    out[n, o, y, x] = b[o] + sum_{c,i,j} W[o, c, i, j] * x_pad[n, c, y*sh + i*dh, x*sw + j*dw]

    Returns ``(out, cols)``; ``cols`` is what the backward pass needs. It is
    written into ``cols_buffer`` when that fits (see :func:`im2col`).
    """
    o, _, kh, kw = weight.shape
    (oh, ow), grid, grid_pads = conv_grid(x.shape, (kh, kw), stride, pads, dilation)
    cols = im2col(pad2d(x, grid_pads), (kh, kw), stride, dilation, grid, cols_buffer)   # (C*kh*kw, N*GH*GW)
    # a strided weight view may reshape to a strided matrix: contiguous, BLAS sums in one order
    w_mat = np.ascontiguousarray(weight.reshape(o, -1).astype(x.dtype, copy=False))
    out = w_mat @ cols                                                        # (O, N*GH*GW)
    if bias is not None:
        out += bias.astype(x.dtype, copy=False)[:, None]
    out = out.reshape(o, x.shape[0], *grid)[:, :, :oh, :ow]                 # drop the grid's extra columns
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3)), cols


def conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad=True,
                    overwrite_cols=False):
    """Gradients of :func:`conv2d_forward`.

    grad_out: (N, O, OH, OW). Returns ``(dx, dW, db)`` with
    dW = dY @ cols.T, dcols = W.T @ dY, dx = col2im(dcols), db = sum of dY
    (dY being grad_out laid out as (O, N*GH*GW), zero on the grid's extra
    columns). ``dx`` is None when ``input_grad`` is False (the first layer of
    a network needs no dx). With ``overwrite_cols`` the memory of ``cols``
    (no longer needed once dW is known) holds the intermediate matrix of dx.
    """
    o, _, kh, kw = weight.shape
    n, c, h, w = x_shape
    (oh, ow), grid, grid_pads = conv_grid(x_shape, (kh, kw), stride, pads, dilation)
    dy = np.zeros((o, n, *grid), dtype=grad_out.dtype)
    dy[:, :, :oh, :ow] = grad_out.transpose(1, 0, 2, 3)
    dy = dy.reshape(o, -1)                                           # (O, N*GH*GW)
    db = dy.sum(axis=1)
    # The same product either way round, but OpenBLAS is faster with the taller matrix
    # first (measured: 32->64 channels 3.7 against 4.7 ms, a 1-channel input 0.8 against 1.0)
    if cols.shape[0] >= o:
        dw = (cols @ dy.T).T.reshape(weight.shape)
    else:
        dw = (dy @ cols.T).reshape(weight.shape)
    if not input_grad:
        return None, dw, db
    if stride == (1, 1) and o <= c:
        # Two ways to the same dx: materialise dcols (C*kh*kw rows) and col2im it, or
        # im2col dy (O*kh*kw rows) in conv2d_input_grad. The smaller matrix wins: on
        # 32->64 channels col2im takes 6.8 ms against 7.7, on 16->16 (dilated) 18 against 11.
        return conv2d_input_grad(grad_out, weight, pads, dilation, cols if overwrite_cols else None), dw, db
    w_mat = np.ascontiguousarray(weight.reshape(o, -1).astype(grad_out.dtype, copy=False))
    reuse = overwrite_cols and _fits(cols, cols.shape, grad_out.dtype)
    dcols = np.matmul(w_mat.T, dy, out=cols if reuse else None)     # (C*kh*kw, N*GH*GW)
    (top, bottom), (left, right) = grid_pads
    dx_pad = col2im(dcols, (n, c, h + top + bottom, w + left + right), (kh, kw), stride, dilation, grid)
    return np.ascontiguousarray(unpad2d(dx_pad, grid_pads)), dw, db


def conv2d_input_grad(grad_out, weight, pads, dilation, cols_buffer=None):
    """dLoss/dx of a stride-1 convolution, computed as a convolution ("transposed conv").

    grad_out: (N, O, OH, OW), weight: (O, C, kh, kw) -> dx: (N, C, H, W).

    Along one axis, out[y] = sum_i W[i] x_pad[y + i*d], so
    dx_pad[u] = sum_i W[i] dy[u - i*d] = sum_i W[k-1-i] dy_ext[u + i*d], with dy_ext
    being dy zero-padded by (k-1)*d on both sides: a correlation of dy with the
    kernel flipped and its in/out channels swapped. Only the rows of x itself are
    wanted, so dy is padded by (k-1)*d - pad instead (cropped where that is negative).
    """
    o, c, kh, kw = weight.shape
    (top, bottom), (left, right) = pads
    dh, dw = dilation
    p_top, p_bottom = (kh - 1) * dh - top, (kh - 1) * dh - bottom
    p_left, p_right = (kw - 1) * dw - left, (kw - 1) * dw - right
    _, _, oh, ow = grad_out.shape
    dy = grad_out[:, :, max(0, -p_top):oh - max(0, -p_bottom), max(0, -p_left):ow - max(0, -p_right)]
    flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)             # (C, O, kh, kw)
    dy_pads = ((max(0, p_top), max(0, p_bottom)), (max(0, p_left), max(0, p_right)))
    dx, _ = conv2d_forward(dy, flipped, None, (1, 1), dy_pads, dilation, cols_buffer)
    return dx


# ---------------------------------------------------------------------------
# Pooling: the same windows, reduced by max or mean
# ---------------------------------------------------------------------------
def max_pool2d_forward(x, kernel_size, stride, pads, argmax=False):
    """Max over each window; padding counts as -inf.

    x: (N, C, H, W) -> out: (N, C, OH, OW), or ``(out, arg)`` with ``argmax=True``.
    The running maximum over the kh*kw taps is one vectorised ``np.maximum`` per
    tap. ``arg[n, c, oh, ow] = i*kw + j`` names the tap ``(i, j)`` that holds the
    window's maximum (its first one in row-major order, PyTorch's rule on ties):
    the running value only moves to a later tap that is strictly greater. A NaN
    counts as the maximum, as in PyTorch: the output is NaN and ``arg`` names the
    window's last NaN (a later NaN takes over, a number never beats one).
    """
    x_pad = pad2d(x, pads, value=-np.inf)
    win = sliding_windows(x_pad, kernel_size, stride)
    kh, kw = kernel_size
    out = win[:, :, 0, 0].copy()
    if not argmax:
        for i in range(kh):
            for j in range(kw):
                np.maximum(out, win[:, :, i, j], out=out)
        return out
    arg = np.zeros(out.shape, dtype=np.min_scalar_type(kh * kw - 1))
    greater = np.empty(out.shape, dtype=bool)
    for t in range(1, kh * kw):
        tap = win[:, :, t // kw, t % kw]
        np.greater(tap, out, out=greater)
        greater |= tap != tap                      # NaN: taken as the maximum (PyTorch)
        np.maximum(out, tap, out=out)
        # t exceeds every earlier index, so a max sets arg = t exactly where greater
        np.maximum(arg, greater.view(np.uint8) * arg.dtype.type(t), out=arg)
    return out, arg


def max_pool2d_backward(grad_out, arg, x_shape, kernel_size, stride, pads):
    """Route each window's gradient to its maximum, the tap ``arg`` names.

    grad_out, arg: (N, C, OH, OW) -> dx: x_shape. One masked write (or add, when
    windows overlap) per tap.
    """
    (top, bottom), (left, right) = pads
    n, c, h, w = x_shape
    dx_pad = np.zeros((n, c, h + top + bottom, w + left + right), dtype=grad_out.dtype)
    dwin = sliding_windows(dx_pad, kernel_size, stride, writeable=True)
    kh, kw = kernel_size
    overlapping = stride[0] < kh or stride[1] < kw
    hit = np.empty(arg.shape, dtype=bool)
    for t in range(kh * kw):
        np.equal(arg, t, out=hit)
        if overlapping:                           # windows share pixels: add
            dwin[:, :, t // kw, t % kw] += grad_out * hit
        else:                                     # each pixel in one window: write
            np.multiply(grad_out, hit, out=dwin[:, :, t // kw, t % kw])
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
    check_array(x, "x")
    e = np.exp(-np.abs(x))                       # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def log_softmax(z, axis=-1):
    """log(softmax(z)) = z - max - log(sum(exp(z - max))): exact for huge logits.

    An inf logit gives NaN (inf - inf) quietly, as in PyTorch. A non-contiguous
    ``z`` is copied first, so that its sums run in the same order as its copy's.
    """
    z = contiguous(check_array(z, "z"))
    _check_axis(axis, z.ndim)
    if z.size == 0:                           # nothing to normalise (max() has no identity)
        return z.copy()
    with np.errstate(invalid="ignore"):
        shifted = z - z.max(axis=axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def contiguous(x):
    """``x`` itself if C-contiguous, else a C-ordered copy (0-d arrays stay 0-d).

    Reductions and BLAS add a view's elements in another order than its copy's;
    copying first makes a view's result bit-identical to its copy's.
    """
    return x if x.flags.c_contiguous else x.copy(order="C")


def _check_axis(axis, ndim):
    axis = check_int(axis, "axis")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array of {ndim} dimensions")


def softmax(z, axis=-1):
    """exp(z) / sum(exp(z)), shifted by the maximum so that exp never overflows
    (NaN for an inf logit, quietly; see :func:`log_softmax`)."""
    z = contiguous(check_array(z, "z"))
    _check_axis(axis, z.ndim)
    if z.size == 0:
        return z.copy()
    with np.errstate(invalid="ignore"):
        e = np.exp(z - z.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
