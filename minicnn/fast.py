"""Fast paths: the convolution and pooling of :mod:`minicnn.functional`, computed faster.

Read :mod:`minicnn.functional` first: its references are the definition. Each
function here is one named trick that gives the same numbers (to rounding;
``tests/test_fast_paths.py`` proves it on every Hypothesis case) and says what
it buys, as measured by ``benchmarks/bench_fast_paths.py`` (float32, batch 64,
2 threads, OpenBLAS's SkylakeX kernels, medians of 25 alternating runs; the
MNIST CNN's second convolution, 32 -> 64 channels at 14x14, unless a docstring
says otherwise). The table ``FAST_TWINS`` of :mod:`minicnn.layers.base` pairs each
twin with its reference and says where it runs; the layers call through
``fastest(reference, x)`` there. While fast paths are on (the default;
``with minicnn.reference_paths():`` switches them off), the convolutions on NumPy
arrays and the max-pool backward on either device run here.

The convolution tricks (1-3, 5) are CPU ones: they shape the work for the cache
and for OpenBLAS. On a GPU the references run instead, one matrix product per
convolution, which is what a GPU wants (``benchmarks/bench_gpu.py`` times them there).

The tricks:

1. :func:`wide_grid` - im2col and col2im over a grid as wide as the padded image
   (stride 1, 8 channels or more): every window row is one contiguous run of memory.
2. :func:`weight_grad` - dW with the taller matrix first, which OpenBLAS runs faster.
3. :func:`input_grad_by_convolution` - dx as a convolution of dY (stride 1, O <= 2C).
4. :func:`max_pool2d_backward` - non-overlapping windows write instead of add.
5. :func:`blocks` - a large batch in blocks: inference keeps no im2col matrix beyond
   a block's.
6. ``Sequential`` runs a ReLU that precedes a MaxPool2D after it (see
   :meth:`minicnn.layers.container.Chain._running_order`).

Grouped convolutions (``groups`` > 1) take the same tricks: only the matrix products
change, to the reference's batched product over the groups
(:func:`minicnn.functional.grouped_matmul`).

Tried and dropped, with the numbers in ``benchmarks/README.md``: the backward pass
writing its matrix into the forward's (no gain once the batch runs in blocks), and
the memory-bound steps split over Python threads (slower on the development machine).
"""
import numpy as np

from . import functional as F
from .devices import array_module


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

    Measured: im2col 0.76 ms wide against 1.41 ms narrow; col2im 2.27 ms against 4.34 ms.
    """
    (top, bottom), (left, right) = pads
    h, w = x_shape[-2:]
    oh, ow = F.window_output_shape((h, w), kernel_size, (1, 1), pads, dilation)
    return (oh, ow), (oh, w + left + right), ((top, bottom + 1), (left, right))


def conv2d_forward(x, weight, bias, stride, pads, dilation, keep_cols=True, groups=1):
    """Fast :func:`minicnn.functional.conv2d_forward`: the batch in :func:`blocks` of a few
    samples, each block's im2col on the :func:`wide_grid` at stride 1, its matrix product
    and its output computed while the block is in the cache, one block after the other
    (the matrix products use BLAS's threads, :mod:`minicnn.threads`).

    Returns ``(out, cols)``: cols holds every block's im2col matrix, (C*kh*kw, n_b*GH*GW)
    for the n_b samples of block b, one after the other in one flat array. With
    ``groups`` > 1 each block's product is the reference's batched one,
    :func:`minicnn.functional.grouped_matmul`.
    ``keep_cols=False`` (inference: no backward will need them) returns cols None, and
    each block's matrix is made, used and dropped while it is small: at batch 1000 that
    spares a matrix of 258 MB for the MNIST CNN's second convolution.
    """
    o = len(weight)
    (oh, ow), grid, grid_pads = _grid(x.shape, weight.shape[2:], stride, pads, dilation)
    rows, per_sample = x.shape[1] * weight[0, 0].size, grid[0] * grid[1]     # C*kh*kw
    cols = None
    if keep_cols:
        cols = np.empty(rows * len(x) * per_sample, x.dtype)
    w_mat = F.group_weight(weight, groups, x.dtype)                                 # (G, O/G, C/G*kh*kw)
    out = np.empty((len(x), o, oh, ow), x.dtype)

    def block(a, b):
        block_cols = None if cols is None else cols[rows * a * per_sample:rows * b * per_sample].reshape(rows, -1)
        block_cols = F.im2col(F.pad2d(x[a:b], grid_pads), weight.shape[2:], stride, dilation, grid, block_cols)
        from_grid(F.grouped_matmul(w_mat, block_cols), b - a, grid, (oh, ow), bias, out=out[a:b])
    blocks(block, len(x), rows * per_sample * x.itemsize)
    return out, cols


#: The wide grid pays from this many input channels on (below, the narrow grid's fewer
#: columns win: 1 -> 32 channels at 28x28, fwd + bwd 2.8 ms narrow against 3.5 wide).
WIDE_GRID_CHANNELS = 8


def _grid(x_shape, kernel_size, stride, pads, dilation):
    """``((OH, OW), grid, grid_pads)``: the :func:`wide_grid` at stride 1 with enough channels,
    else the output's own."""
    if tuple(stride) == (1, 1) and x_shape[1] >= WIDE_GRID_CHANNELS:
        return wide_grid(x_shape, kernel_size, pads, dilation)
    out_hw = F.window_output_shape(x_shape[-2:], kernel_size, stride, pads, dilation)
    return out_hw, out_hw, pads


def conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad=True, groups=1):
    """Fast :func:`minicnn.functional.conv2d_backward`, for the ``cols`` of :func:`conv2d_forward`,
    block by block as the forward went.

    Per block: dY on the forward's grid (zero in the wide grid's extra columns), its
    part of dW by :func:`weight_grad` and of db, and dx by col2im of W^T dY. The parts
    of dW and db are added in block order. At stride 1 with O <= 2C, dx comes from
    :func:`input_grad_by_convolution` instead.
    """
    o, _, kh, kw = weight.shape
    n, c, h, w = x_shape
    (oh, ow), grid, grid_pads = _grid(x_shape, (kh, kw), stride, pads, dilation)
    rows, per_sample = c * kh * kw, grid[0] * grid[1]
    if cols.shape != (rows * n * per_sample,):
        raise ValueError(f"cols has shape {cols.shape}, not that of the fast conv2d_forward for this "
                         f"geometry ({rows * n * per_sample},): forward and backward must run with the "
                         "same fast-path setting")
    by_convolution = tuple(stride) == (1, 1) and o <= 2 * c
    w_mat = F.group_weight(weight, groups, grad_out.dtype)                # (G, O/G, C/G*kh*kw)
    sizes = block_bounds(n, rows * per_sample * cols.itemsize)
    dw_parts = np.empty((len(sizes), *w_mat.shape), np.result_type(cols, grad_out))
    db_parts = np.empty((len(sizes), o), grad_out.dtype)
    dx = np.empty(x_shape, grad_out.dtype) if input_grad and not by_convolution else None

    def block(a, b):
        i = sizes.index((a, b))
        block_cols = cols[rows * a * per_sample:rows * b * per_sample].reshape(rows, -1)
        dy = to_grid(grad_out[a:b], grid)                                  # (O, n_b*GH*GW)
        db_parts[i] = dy.sum(axis=1)
        dy_g = dy.reshape(groups, o // groups, -1)
        dw_parts[i] = weight_grad(block_cols.reshape(groups, rows // groups, -1), dy_g, w_mat.shape)
        if dx is not None:
            dcols = np.matmul(w_mat.transpose(0, 2, 1), dy_g).reshape(rows, -1)
            (top, bottom), (left, right) = grid_pads
            dx_pad = F.col2im(dcols, (b - a, c, h + top + bottom, w + left + right), (kh, kw), stride,
                              dilation, grid)
            dx[a:b] = F.unpad2d(dx_pad, grid_pads)
    blocks(block, n, rows * per_sample * cols.itemsize)
    dw, db = dw_parts.sum(axis=0).reshape(weight.shape), db_parts.sum(axis=0)
    if input_grad and by_convolution:
        dx = input_grad_by_convolution(grad_out, weight, pads, dilation, groups)
    return dx, dw, db


# ---------------------------------------------------------------------------
# 2. dW with the taller matrix first
# ---------------------------------------------------------------------------
def weight_grad(cols, dy, weight_shape):
    """dW = dY @ cols^T, computed as (cols @ dY^T)^T when cols has at least as many rows.
    (Grouped: cols (G, K/G, M) and dy (G, O/G, M), the products batched over the groups.)

    The same product either way round, but OpenBLAS is faster with the taller
    matrix first. Measured: 32 -> 64 channels (cols 288 rows, dY 64) 2.13 ms
    against 2.57 the other way round. For the 1-channel first layer (cols 9 rows,
    dY 32) the two orders take 0.5-1.0 ms, within the noise of repeated runs.
    """
    t = lambda a: a.swapaxes(-1, -2)
    if cols.shape[-2] >= dy.shape[-2]:
        return t(cols @ t(dy)).reshape(weight_shape)
    return (dy @ t(cols)).reshape(weight_shape)


# ---------------------------------------------------------------------------
# 3. dx as a convolution
# ---------------------------------------------------------------------------
def input_grad_by_convolution(grad_out, weight, pads, dilation, groups=1):
    """dLoss/dx of a stride-1 convolution, computed as a convolution ("transposed conv").

    grad_out: (N, O, OH, OW), weight: (O, C/G, kh, kw) -> dx: (N, C, H, W).

    Along one axis, out[y] = sum_i W[i] x_pad[y + i*d], so
    dx_pad[u] = sum_i W[i] dy[u - i*d] = sum_i W[k-1-i] dy_ext[u + i*d], with dy_ext
    being dy zero-padded by (k-1)*d on both sides: a correlation of dy with the
    kernel flipped and its in/out channels swapped. Only the rows of x itself are
    wanted, so dy is padded by (k-1)*d - pad instead (cropped where that is negative).

    Worked example, one axis: W = [a, b] (k = 2), x of length 3, no padding:
    out = [a x0 + b x1, a x1 + b x2], so dx = [a g0, b g0 + a g1, b g1], which is
    the correlation of [0, g0, g1, 0] with the flipped [b, a].

    Grouped (G groups): group g's outputs come from its own inputs only, so its dx is
    the transposed convolution of its own dY with its own kernel: a convolution with G
    groups again, of kernel (C, O/G, kh, kw), group g's (O/G, C/G) block swapped.

    It builds the im2col matrix of dY (O*kh*kw rows) instead of W^T dY (C*kh*kw
    rows), and in blocks that matrix never leaves the cache, so it wins up to
    O = 2C. Measured (dx alone): 16 -> 16 channels at 32x32, dilation 2, 3.9 ms
    against 18.2 ms by col2im; 32 -> 64 channels 4.1 ms against 5.5 ms.
    """
    o, c_g, kh, kw = weight.shape
    (top, bottom), (left, right) = pads
    dh, dw = dilation
    p_top, p_bottom = (kh - 1) * dh - top, (kh - 1) * dh - bottom
    p_left, p_right = (kw - 1) * dw - left, (kw - 1) * dw - right
    _, _, oh, ow = grad_out.shape
    dy = grad_out[:, :, max(0, -p_top):oh - max(0, -p_bottom), max(0, -p_left):ow - max(0, -p_right)]
    flipped = (weight[:, :, ::-1, ::-1].reshape(groups, o // groups, c_g, kh, kw)
               .transpose(0, 2, 1, 3, 4).reshape(groups * c_g, o // groups, kh, kw))   # (C, O/G, kh, kw)
    dy_pads = ((max(0, p_top), max(0, p_bottom)), (max(0, p_left), max(0, p_right)))
    dx, _ = conv2d_forward(dy, flipped, None, (1, 1), dy_pads, dilation, keep_cols=False, groups=groups)
    return dx


# ---------------------------------------------------------------------------
# 4. Pooling
# ---------------------------------------------------------------------------
def max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride, pads, ceil_mode=False):
    """Fast :func:`minicnn.functional.max_pool2d_backward`: when the windows do not overlap
    (stride >= kernel), each pixel belongs to one window, so each tap *writes* its masked
    gradient into the zeros instead of adding it (one pass less over dx per tap).
    In ceil mode the same, over the input padded as :func:`minicnn.functional.ceil_pads` says.

    Measured on the MNIST CNN's first pool, 2x2 stride 2 on (64, 32, 28, 28): 0.98 ms against 1.78 ms.
    """
    xp = array_module(grad_out)
    dx_pad, dwin, pads = F.pool_gradient_windows(grad_out, x_shape, kernel_size, stride, pads, ceil_mode)
    kh, kw = kernel_size
    overlapping = stride[0] < kh or stride[1] < kw
    hit = xp.empty(argmax.shape, dtype=bool)
    for t in range(kh * kw):
        xp.equal(argmax, t, out=hit)
        if overlapping:                           # windows share pixels: add
            dwin[:, :, t // kw, t % kw] += grad_out * hit
        else:                                     # each pixel in one window: write
            xp.multiply(grad_out, hit, out=dwin[:, :, t // kw, t % kw])
    return F.unpad2d(dx_pad, pads)


# ---------------------------------------------------------------------------
# 5. The batch in blocks
# ---------------------------------------------------------------------------
#: A block of samples has an im2col matrix of at most about this many bytes, 4 MiB: the
#: MNIST CNN's second convolution takes 14 samples a block. Measured on its forward at
#: batch 1000 (inference): 44 ms in blocks against 75 ms for one matrix of 258 MB; a
#: training step at batch 64, 2-5% faster than in one block.
BLOCK_BYTES = 4 << 20


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
    if tuple(grid) == (oh, ow):                  # the narrow grid: no extra columns to zero
        return grad_out.transpose(1, 0, 2, 3).reshape(o, -1)
    dy = np.zeros((o, n, *grid), dtype=grad_out.dtype)
    dy[:, :, :oh, :ow] = grad_out.transpose(1, 0, 2, 3)
    return dy.reshape(o, -1)
