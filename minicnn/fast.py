"""Fast paths: the convolution and pooling of :mod:`minicnn.functional`, computed faster.

Read :mod:`minicnn.functional` first: its references are the definition. Each
function here is one named trick that gives the same numbers (to rounding;
``tests/test_fast_paths.py`` proves it on every Hypothesis case) and says what
it buys, as measured by ``benchmarks/bench_fast_paths.py`` (2 threads, float32,
the MNIST CNN's second convolution, 32 -> 64 channels at 14x14, batch 64, unless
a docstring says otherwise). The references call :func:`conv2d_forward`,
:func:`conv2d_backward` and :func:`max_pool2d_backward` here while fast paths
are on (the default); ``with minicnn.reference_paths():`` switches them off.

The tricks:

1. :func:`wide_grid` - im2col and col2im over a grid as wide as the padded image
   (stride 1): every window row is one contiguous run of memory.
2. :func:`weight_grad` - dW with the taller matrix first, which OpenBLAS runs faster.
3. :func:`input_grad_by_convolution` - dx as a convolution of dY (stride 1, O <= C):
   a smaller matrix than col2im's.
4. :func:`can_hold` - the backward pass writes its matrix into the forward's cols.
5. :func:`max_pool2d_backward` - non-overlapping windows write instead of add.
6. The idle core: :func:`pad2d`, :func:`im2col`, :func:`col2im`, :func:`from_grid`,
   :func:`to_grid` and the pooling split the batch over minicnn's threads
   (:func:`minicnn.threads.parallel`), while the matrix products run on BLAS's.
"""
import numpy as np

from . import functional as F
from .threads import parallel


# ---------------------------------------------------------------------------
# 1. The wide grid
# ---------------------------------------------------------------------------
def wide_grid(x_shape, kernel_size, pads, dilation):
    """Geometry of a stride-1 convolution on the wide grid: ``((OH, OW), (GH, GW), grid_pads)``.

    The narrow grid has one window position per output pixel, OH x OW. The wide
    grid makes every row as wide as the padded image: GW = Wp (the padded width),
    GH = OH. Its extra positions, columns OW .. Wp-1 of each row, give outputs
    that are thrown away; in exchange the windows of a row lie back to back in
    memory, so im2col copies rows of Wp values and col2im adds them, instead of
    rows of OW: several times faster in NumPy, for Wp / OW - 1 more matrix-product
    columns.

    Worked example: a 4x4 input, a 3x3 kernel and padding 1 give a 6x6 padded
    image, Wp = 6 and OW = 4. Grid columns 0-3 are the outputs; the windows at
    columns 4 and 5 start two and one pixels from the row's end, so they wrap
    into the next image row and their outputs are garbage, dropped later. On the
    last grid row those wrapping windows reach past the end of the padded image,
    by at most (kw - 1) * dw values (the window's width minus one), which is
    less than one row (a window fits in Wp): one extra zero row at the bottom
    keeps every read inside the array. ``grid_pads`` are ``pads`` with that row.

    Measured: im2col 2.0 ms narrow against 0.6 ms wide; col2im 7.0 ms against 2.4 ms.
    """
    (top, bottom), (left, right) = pads
    h, w = x_shape[-2:]
    oh, ow = F.window_output_shape((h, w), kernel_size, (1, 1), pads, dilation)
    return (oh, ow), (oh, w + left + right), ((top, bottom + 1), (left, right))


def conv2d_forward(x, weight, bias, stride, pads, dilation, cols_buffer=None):
    """Fast :func:`minicnn.functional.conv2d_forward`: at stride 1 on the :func:`wide_grid`.

    Returns ``(out, cols)``; at stride 1 cols is (C*kh*kw, N*GH*GW), wider than
    the reference's. ``cols_buffer``: a matrix to write cols into when it can
    hold it (see :func:`can_hold`).
    """
    o, _, kh, kw = weight.shape
    (oh, ow), grid, grid_pads = _grid(x.shape, (kh, kw), stride, pads, dilation)
    out_buffer = cols_buffer if can_hold(cols_buffer, (weight[0].size, len(x) * grid[0] * grid[1]), x.dtype) \
        else None
    cols = im2col(pad2d(x, grid_pads), (kh, kw), stride, dilation, grid, out_buffer)
    w_mat = np.ascontiguousarray(weight.reshape(o, -1).astype(x.dtype, copy=False))
    out = w_mat @ cols                                                     # (O, N*GH*GW)
    return from_grid(out, len(x), grid, (oh, ow), bias), cols


def _grid(x_shape, kernel_size, stride, pads, dilation):
    """``((OH, OW), grid, grid_pads)``: the :func:`wide_grid` at stride 1, else the output's own."""
    if tuple(stride) == (1, 1):
        return wide_grid(x_shape, kernel_size, pads, dilation)
    out_hw = F.window_output_shape(x_shape[-2:], kernel_size, stride, pads, dilation)
    return out_hw, out_hw, pads


def conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad=True,
                    overwrite_cols=False):
    """Fast :func:`minicnn.functional.conv2d_backward`, for the ``cols`` of :func:`conv2d_forward`.

    dY is laid out on the forward's grid (zero in the wide grid's extra columns).
    dW by :func:`weight_grad`; dx by :func:`input_grad_by_convolution` at stride 1
    when O <= C, else by col2im of W^T dY, written into the memory of ``cols``
    when ``overwrite_cols`` allows (:func:`can_hold`).
    """
    o, c, kh, kw = weight.shape
    n, _, h, w = x_shape
    (oh, ow), grid, grid_pads = _grid(x_shape, (kh, kw), stride, pads, dilation)
    if cols.shape != (c * kh * kw, n * grid[0] * grid[1]):
        raise ValueError(f"cols has shape {cols.shape}, not that of the fast conv2d_forward for this "
                         f"geometry ({c * kh * kw}, {n * grid[0] * grid[1]}): forward and backward must "
                         "run with the same fast-path setting")
    dy = to_grid(grad_out, grid)                                           # (O, N*GH*GW)
    db = dy.sum(axis=1)
    dw = weight_grad(cols, dy, weight.shape)
    if not input_grad:
        return None, dw, db
    if tuple(stride) == (1, 1) and o <= c:
        buffer = cols if overwrite_cols else None
        return input_grad_by_convolution(grad_out, weight, pads, dilation, buffer), dw, db
    w_mat = np.ascontiguousarray(weight.reshape(o, -1).astype(grad_out.dtype, copy=False))
    reuse = overwrite_cols and can_hold(cols, cols.shape, grad_out.dtype)
    dcols = np.matmul(w_mat.T, dy, out=cols if reuse else None)           # (C*kh*kw, N*GH*GW)
    (top, bottom), (left, right) = grid_pads
    dx_pad = col2im(dcols, (n, c, h + top + bottom, w + left + right), (kh, kw), stride, dilation, grid)
    return np.ascontiguousarray(F.unpad2d(dx_pad, grid_pads)), dw, db


# ---------------------------------------------------------------------------
# 2. dW with the taller matrix first
# ---------------------------------------------------------------------------
def weight_grad(cols, dy, weight_shape):
    """dW = dY @ cols^T, computed as (cols @ dY^T)^T when cols has at least as many rows.

    The same product either way round, but OpenBLAS is faster with the taller
    matrix first. Measured on one thread: 32 -> 64 channels (cols 288 rows,
    dY 64) 3.7 ms against 4.7; a 1-channel input (cols 9 rows, dY 32) 0.8 ms
    against 1.0 the other way round.
    """
    if cols.shape[0] >= dy.shape[0]:
        return (cols @ dy.T).T.reshape(weight_shape)
    return (dy @ cols.T).reshape(weight_shape)


# ---------------------------------------------------------------------------
# 3. dx as a convolution
# ---------------------------------------------------------------------------
def input_grad_by_convolution(grad_out, weight, pads, dilation, cols_buffer=None):
    """dLoss/dx of a stride-1 convolution, computed as a convolution ("transposed conv").

    grad_out: (N, O, OH, OW), weight: (O, C, kh, kw) -> dx: (N, C, H, W).

    Along one axis, out[y] = sum_i W[i] x_pad[y + i*d], so
    dx_pad[u] = sum_i W[i] dy[u - i*d] = sum_i W[k-1-i] dy_ext[u + i*d], with dy_ext
    being dy zero-padded by (k-1)*d on both sides: a correlation of dy with the
    kernel flipped and its in/out channels swapped. Only the rows of x itself are
    wanted, so dy is padded by (k-1)*d - pad instead (cropped where that is negative).

    Worked example, one axis: W = [a, b] (k = 2), x of length 3, no padding:
    out = [a x0 + b x1, a x1 + b x2], so dx = [a g0, b g0 + a g1, b g1], which is
    the correlation of [0, g0, g1, 0] with the flipped [b, a].

    It builds the im2col matrix of dY (O*kh*kw rows) instead of W^T dY (C*kh*kw
    rows), so it wins when O <= C. Measured: 16 -> 16 channels, dilation 2,
    11 ms against 18 ms by col2im; 32 -> 64 channels, where col2im wins, 7.7 ms
    against 6.8 ms.
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
# 4. One buffer for two matrices
# ---------------------------------------------------------------------------
def can_hold(buffer, shape, dtype):
    """Can ``buffer`` take a C-contiguous array of ``shape`` and ``dtype``, to be written into?

    Conv2D's backward no longer needs the forward's cols once dW is known, and
    the matrix dx is made from has cols' shape (W^T dY) or a similar one (the
    im2col of dY): writing it into cols' memory spares the allocation of a second
    matrix of 10-40 MB, whose pages would all fault in on first touch. Measured:
    the 32 -> 64 convolution's backward 9.5 ms against 13.5 ms with a fresh matrix.
    """
    return (isinstance(buffer, np.ndarray) and buffer.shape == tuple(shape) and buffer.dtype == dtype
            and buffer.flags.c_contiguous and buffer.flags.writeable)


# ---------------------------------------------------------------------------
# 5. Pooling
# ---------------------------------------------------------------------------
def max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride, pads):
    """Fast :func:`minicnn.functional.max_pool2d_backward`: when the windows do not overlap
    (stride >= kernel), each pixel belongs to one window, so each tap *writes* its masked
    gradient into the zeros instead of adding it (one pass less over dx per tap).

    Measured on the MNIST CNN's first pool, 2x2 stride 2 on (64, 32, 28, 28): 1.3 ms against 2.1 ms.
    """
    (top, bottom), (left, right) = pads
    n, c, h, w = x_shape
    dx_pad = np.zeros((n, c, h + top + bottom, w + left + right), dtype=grad_out.dtype)
    dwin = F.sliding_windows(dx_pad, kernel_size, stride, writeable=True)
    kh, kw = kernel_size
    overlapping = stride[0] < kh or stride[1] < kw

    def samples(a, b):
        hit = np.empty(argmax[a:b].shape, dtype=bool)
        for t in range(kh * kw):
            np.equal(argmax[a:b], t, out=hit)
            if overlapping:                           # windows share pixels: add
                dwin[a:b, :, t // kw, t % kw] += grad_out[a:b] * hit
            else:                                     # each pixel in one window: write
                np.multiply(grad_out[a:b], hit, out=dwin[a:b, :, t // kw, t % kw])
    parallel(samples, n, dx_pad.size)
    return F.unpad2d(dx_pad, pads)


def max_pool2d_forward(x, kernel_size, stride, pads, argmax=False):
    """Fast :func:`minicnn.functional.max_pool2d_forward`: the batch split over the threads."""
    n, c = x.shape[:2]
    (oh, ow) = F.window_output_shape(x.shape[2:], kernel_size, stride, pads)
    out = np.empty((n, c, oh, ow), x.dtype)
    winner = np.empty((n, c, oh, ow), np.min_scalar_type(kernel_size[0] * kernel_size[1] - 1)) if argmax else None

    def samples(a, b):
        with F.fast_paths(False):                 # the reference, on samples a..b
            result = F.max_pool2d_forward(x[a:b], kernel_size, stride, pads, argmax)
        if argmax:
            out[a:b], winner[a:b] = result
        else:
            out[a:b] = result
    parallel(samples, n, x.size)
    return (out, winner) if argmax else out


# ---------------------------------------------------------------------------
# 6. The idle core: memory-bound steps split over the batch
# ---------------------------------------------------------------------------
# NumPy computes a copy or an element-wise operation on one core, and releases the
# GIL while it does: so one chunk of the batch per thread runs them side by side. No
# value depends on the chunking (each is computed by the same operations in the same
# order), so the results are the reference's bit for bit, whatever the threads.
def pad2d(x, pads, value=0.0):
    """:func:`minicnn.functional.pad2d`, the batch split over the threads."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    out = np.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype)

    def samples(a, b):
        out[a:b] = value                          # a full fill, then the middle: as F.pad2d
        out[a:b, :, top:top + h, left:left + w] = x[a:b]
    parallel(samples, n, out.size)
    return out


def im2col(x_pad, kernel_size, stride, dilation, grid=None, out=None):
    """:func:`minicnn.functional.im2col`, the batch split over the threads."""
    win = F.sliding_windows(x_pad, kernel_size, stride, dilation, grid=grid)   # (N, C, kh, kw, GH, GW)
    n, c, kh, kw, gh, gw = win.shape
    if out is None:
        out = np.empty((c * kh * kw, n * gh * gw), dtype=x_pad.dtype)
    rows = out.reshape(c, kh, kw, n, gh, gw)

    def samples(a, b):
        rows[:, :, :, a:b] = win[a:b].transpose(1, 2, 3, 0, 4, 5)
    parallel(samples, n, out.size)
    return out


def col2im(cols, x_pad_shape, kernel_size, stride, dilation, grid=None):
    """:func:`minicnn.functional.col2im`, the batch split over the threads (the windows of
    one sample never reach another's pixels, the wide grid's included)."""
    out = np.zeros(x_pad_shape, dtype=cols.dtype)
    win = F.sliding_windows(out, kernel_size, stride, dilation, writeable=True, grid=grid)
    n, c, kh, kw, gh, gw = win.shape
    cols = cols.reshape(c, kh, kw, n, gh, gw)

    def samples(a, b):
        for i in range(kh):
            for j in range(kw):
                win[a:b, :, i, j] += cols[:, i, j, a:b].transpose(1, 0, 2, 3)
    parallel(samples, n, cols.size)
    return out


def from_grid(out, n, grid, out_hw, bias=None):
    """The product W @ cols, (O, N*GH*GW), as the layer's output (N, O, OH, OW): the grid's
    extra columns dropped, the bias added, and the axes moved, in one pass."""
    o, (oh, ow) = len(out), out_hw
    src = out.reshape(o, n, *grid)[:, :, :oh, :ow]
    result = np.empty((n, o, oh, ow), dtype=out.dtype)
    b = None if bias is None else bias.astype(out.dtype, copy=False)[None, :, None, None]

    def samples(a, c):
        if b is None:
            result[a:c] = src[:, a:c].transpose(1, 0, 2, 3)
        else:
            np.add(src[:, a:c].transpose(1, 0, 2, 3), b, out=result[a:c])
    parallel(samples, n, result.size)
    return result


def to_grid(grad_out, grid):
    """dY (N, O, OH, OW) laid out as the product's columns, (O, N*GH*GW), zero on the
    grid's extra columns."""
    n, o, oh, ow = grad_out.shape
    dy = np.empty((o, n, *grid), dtype=grad_out.dtype)

    def samples(a, b):
        dy[:, a:b, :, ow:] = 0
        dy[:, a:b, oh:, :] = 0
        dy[:, a:b, :oh, :ow] = grad_out[a:b].transpose(1, 0, 2, 3)
    parallel(samples, n, dy.size)
    return dy.reshape(o, -1)
