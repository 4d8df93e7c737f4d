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
6. :func:`blocks` - a large batch in blocks: inference keeps no im2col matrix
   beyond a block's.
"""
import numpy as np

from . import functional as F


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


def conv2d_forward(x, weight, bias, stride, pads, dilation, cols_buffer=None, keep_cols=True):
    """Fast :func:`minicnn.functional.conv2d_forward`: the batch in :func:`blocks` of a few
    samples, each block's im2col on the :func:`wide_grid` at stride 1, its matrix product
    and its output computed while the block is in the cache, the blocks shared out among
    minicnn's threads.

    Returns ``(out, cols)``: cols holds every block's im2col matrix, (C*kh*kw, n_b*GH*GW)
    for the n_b samples of block b, one after the other in one flat array.
    ``cols_buffer``: an array to write cols into when it can hold it (see :func:`can_hold`).
    ``keep_cols=False`` (inference: no backward will need them) returns cols None, and
    each block's matrix is made, used and dropped while it is small: at batch 1000 that
    spares a matrix of 258 MB for the MNIST CNN's second convolution.
    """
    o = len(weight)
    (oh, ow), grid, grid_pads = _grid(x.shape, weight.shape[2:], stride, pads, dilation)
    rows, per_sample = weight[0].size, grid[0] * grid[1]
    cols = None
    if keep_cols:
        cols = cols_buffer if can_hold(cols_buffer, (rows * len(x) * per_sample,), x.dtype) else \
            np.empty(rows * len(x) * per_sample, x.dtype)
    w_mat = np.ascontiguousarray(weight.reshape(o, -1).astype(x.dtype, copy=False))
    out = np.empty((len(x), o, oh, ow), x.dtype)

    def block(a, b):
        block_cols = None if cols is None else cols[rows * a * per_sample:rows * b * per_sample].reshape(rows, -1)
        block_cols = F.im2col(F.pad2d(x[a:b], grid_pads), weight.shape[2:], stride, dilation, grid, block_cols)
        from_grid(w_mat @ block_cols, b - a, grid, (oh, ow), bias, out=out[a:b])
    blocks(block, len(x), rows * per_sample * x.itemsize)
    return out, cols


def _grid(x_shape, kernel_size, stride, pads, dilation):
    """``((OH, OW), grid, grid_pads)``: the :func:`wide_grid` at stride 1, else the output's own."""
    if tuple(stride) == (1, 1):
        return wide_grid(x_shape, kernel_size, pads, dilation)
    out_hw = F.window_output_shape(x_shape[-2:], kernel_size, stride, pads, dilation)
    return out_hw, out_hw, pads


def conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad=True,
                    overwrite_cols=False):
    """Fast :func:`minicnn.functional.conv2d_backward`, for the ``cols`` of :func:`conv2d_forward`,
    block by block as the forward went.

    Per block: dY on the forward's grid (zero in the wide grid's extra columns), its
    part of dW by :func:`weight_grad` and of db, and dx by col2im of W^T dY, written
    into the block's cols when ``overwrite_cols`` allows. The parts of dW and db are
    added in block order: the same sums whatever the threads. At stride 1 with O <= C,
    dx comes from :func:`input_grad_by_convolution` instead.
    """
    o, c, kh, kw = weight.shape
    n, _, h, w = x_shape
    (oh, ow), grid, grid_pads = _grid(x_shape, (kh, kw), stride, pads, dilation)
    rows, per_sample = c * kh * kw, grid[0] * grid[1]
    if cols.shape != (rows * n * per_sample,):
        raise ValueError(f"cols has shape {cols.shape}, not that of the fast conv2d_forward for this "
                         f"geometry ({rows * n * per_sample},): forward and backward must run with the "
                         "same fast-path setting")
    by_convolution = tuple(stride) == (1, 1) and o <= c
    w_mat = np.ascontiguousarray(weight.reshape(o, -1).astype(grad_out.dtype, copy=False))
    reuse = overwrite_cols and can_hold(cols, cols.shape, grad_out.dtype)
    sizes = block_bounds(n, rows * per_sample * cols.itemsize)
    dw_parts = np.empty((len(sizes), o, rows), np.result_type(cols, grad_out))
    db_parts = np.empty((len(sizes), o), grad_out.dtype)
    dx = np.empty(x_shape, grad_out.dtype) if input_grad and not by_convolution else None

    def block(a, b):
        i = sizes.index((a, b))
        block_cols = cols[rows * a * per_sample:rows * b * per_sample].reshape(rows, -1)
        dy = to_grid(grad_out[a:b], grid)                                  # (O, n_b*GH*GW)
        db_parts[i] = dy.sum(axis=1)
        dw_parts[i] = weight_grad(block_cols, dy, (o, rows))
        if dx is not None:
            dcols = np.matmul(w_mat.T, dy, out=block_cols if reuse else None)
            (top, bottom), (left, right) = grid_pads
            dx_pad = F.col2im(dcols, (b - a, c, h + top + bottom, w + left + right), (kh, kw), stride,
                              dilation, grid)
            dx[a:b] = F.unpad2d(dx_pad, grid_pads)
    blocks(block, n, rows * per_sample * cols.itemsize)
    dw, db = dw_parts.sum(axis=0).reshape(weight.shape), db_parts.sum(axis=0)
    if input_grad and by_convolution:
        dx = input_grad_by_convolution(grad_out, weight, pads, dilation, cols if overwrite_cols else None)
    return dx, dw, db


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
    dx, _ = conv2d_forward(dy, flipped, None, (1, 1), dy_pads, dilation, keep_cols=False)
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
    hit = np.empty(argmax.shape, dtype=bool)
    for t in range(kh * kw):
        np.equal(argmax, t, out=hit)
        if overlapping:                           # windows share pixels: add
            dwin[:, :, t // kw, t % kw] += grad_out * hit
        else:                                     # each pixel in one window: write
            np.multiply(grad_out, hit, out=dwin[:, :, t // kw, t % kw])
    return F.unpad2d(dx_pad, pads)


# ---------------------------------------------------------------------------
# 6. The batch in blocks
# ---------------------------------------------------------------------------
#: A block of samples has an im2col matrix of at most about this many bytes. Training at
#: batch 64 takes the MNIST CNN's batch in one block (its largest matrix is 16.5 MB);
#: inference at batch 1000 in eight, instead of one matrix of 258 MB.
BLOCK_BYTES = 32 << 20


def block_bounds(n, sample_bytes):
    """``[(start, stop), ...]``: the blocks of ``n`` samples of ``sample_bytes`` each."""
    size = max(1, min(n, BLOCK_BYTES // max(1, sample_bytes)))
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def blocks(fn, n, sample_bytes):
    """``fn(start, stop)`` for every block of :func:`block_bounds`, in order."""
    for a, b in block_bounds(n, sample_bytes):
        fn(a, b)


def from_grid(product, n, grid, out_hw, bias, out):
    """The product W @ cols, (O, n*GH*GW), written into ``out`` as the layer's output
    (n, O, OH, OW): the bias added (in place, on the contiguous product: three times
    faster than adding it to the strided view), the grid's extra columns dropped and
    the axes moved in one copy."""
    o, (oh, ow) = len(product), out_hw
    if bias is not None:
        product += bias.astype(product.dtype, copy=False)[:, None]
    out[...] = product.reshape(o, n, *grid)[:, :, :oh, :ow].transpose(1, 0, 2, 3)


def to_grid(grad_out, grid):
    """dY (n, O, OH, OW) laid out as the product's columns, (O, n*GH*GW), zero on the
    grid's extra columns."""
    n, o, oh, ow = grad_out.shape
    dy = np.zeros((o, n, *grid), dtype=grad_out.dtype)
    dy[:, :, :oh, :ow] = grad_out.transpose(1, 0, 2, 3)
    return dy.reshape(o, -1)
