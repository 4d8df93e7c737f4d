"""Exercise 2 of 16: im2col, the windows of an image as the rows of a matrix.

Check it:  python -m minicnn.exercises check ex02_im2col.py
Read:      examples/tutorial/07_padding_stride_dilation.py (where the windows go),
           16_weight_sharing.py (the convolution as one matrix product)
"""
import numpy as np


def im2col(x, kh, kw, stride, padding):
    """Unfold every kh x kw window of the zero-padded batch into one row of a matrix.

    x: (N, C, H, W); kh, kw: the window's size; stride, padding: ints
    returns cols: (N*OH*OW, C*kh*kw), in x's dtype, where
        OH = (H + 2*padding - kh) // stride + 1,  OW = (W + 2*padding - kw) // stride + 1

    Layout (the checker holds you to it):
    - rows run over (n, oh, ow), ow fastest: row (n*OH + oh)*OW + ow is the window whose top
      left corner is x_pad[n, :, oh*stride, ow*stride];
    - columns run over (c, i, j), j fastest: column (c*kh + i)*kw + j holds
      x_pad[n, c, oh*stride + i, ow*stride + j],
    so that the window's row lines up with a flattened kernel W[o].reshape(-1), and

        cols @ W.reshape(O, -1).T          (N*OH*OW, O)

    is the convolution (exercise 3). (minicnn's own functional.im2col returns the transpose,
    (C*kh*kw, N*OH*OW); read it if you like, but return the layout above.)

    Hints:
    - loop over the kh*kw offsets (i, j), not over the windows: the slice
      x_pad[:, :, i : i + stride*OH : stride, j : j + stride*OW : stride] is what offset (i, j)
      sees in every window at once, (N, C, OH, OW);
    - gather them into (N, C, kh, kw, OH, OW), then transpose to (N, OH, OW, C, kh, kw) and reshape.
    """
    raise NotImplementedError
