"""Classic image kernels on a photograph: the hand-made ancestors of learned filters.

    python examples/image_filters.py                         # the sample photo (Grace Hopper)
    python examples/image_filters.py --image my_photo.jpg    # any picture
    python examples/image_filters.py --size 128              # a small version, for a quick run

Everything is computed with minicnn.image (correlate2d, median_filter, pool2d, sobel, ...),
the same sliding-window code the Conv2D and pooling layers run on. Writes into --out
(default runs/image_filters):

  filters.png  - the grayscale photo through identity, diagonal edges, the two Laplacians, sharpen, unsharp5, box and
                 Gaussian blur, and the Sobel gradients x, y and their magnitude
  denoise.png  - salt-and-pepper noise repaired by a median filter and by a mean (box)
                 filter; Gaussian noise smoothed by a Gaussian blur (PSNR in the titles)
  pooling.png  - 2x2 and 4x4 max and average pooling, whole and zoomed in
  color.png    - sharpen, Gaussian blur and Sobel magnitude applied to each colour channel

Signed results (edges, gradients) are drawn on a diverging map centred on 0 (red positive,
blue negative) and clipped at the 99th percentile of their size, so that a few extreme
pixels do not wash out the rest; images meant to look like photos are clipped to [0, 1].
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn import image as I  # noqa: E402

from examples._common import load_photo  # noqa: E402

#: The grayscale panels of filters.png after the original: (title, kernel name, display).
#: display: "image" = clipped to [0, 1] in gray; "signed" = diverging map centred on 0.
KERNEL_PANELS = (
    ("identity", "identity", "image"),
    ("diagonal edges", "diagonal_edges", "signed"),
    ("4-neighbour Laplacian", "laplacian4", "signed"),
    ("8-neighbour Laplacian", "laplacian8", "signed"),
    ("sharpen", "sharpen", "image"),
    ("unsharp5 (unsharp mask 5x5)", "unsharp5", "image"),
    ("box_blur (3x3 mean)", "box_blur", "image"),
    ("gaussian_blur3", "gaussian_blur3", "image"),
)

#: Percentile of |value| at which signed maps and magnitudes are clipped for display.
CLIP_PERCENTILE = 99


def _robust_max(values):
    """The CLIP_PERCENTILE-th percentile of |values| (never 0, so it can scale a map)."""
    return float(np.percentile(np.abs(values), CLIP_PERCENTILE)) or 1.0


def _show(ax, img, title, display="image", fig=None):
    """Draw one panel: 'image' gray in [0, 1] (clipped), 'signed' diverging around 0,
    'magnitude' from 0 up (both clipped at the robust maximum, with a colorbar)."""
    if display == "image":
        ax.imshow(np.clip(img, 0, 1), cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=1,
                  interpolation="nearest")
    else:
        top = _robust_max(img)
        if display == "signed":
            shown = ax.imshow(img, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
        else:
            shown = ax.imshow(img, cmap="magma", vmin=0, vmax=top, interpolation="nearest")
        if fig is not None:
            fig.colorbar(shown, ax=ax, shrink=0.8, pad=0.02)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def filters_figure(plt, gray):
    """filters.png: the original, eight kernels and the Sobel gradients, 3 x 4 panels."""
    fig, axes = plt.subplots(3, 4, figsize=(13, 11), layout="constrained")
    axes = axes.ravel()
    _show(axes[0], gray, f"original (grayscale {gray.shape[0]}x{gray.shape[1]})")
    for ax, (title, name, display) in zip(axes[1:], KERNEL_PANELS):
        out = I.correlate2d(gray, I.kernels.get(name), mode="same", boundary="symm")
        _show(ax, out, title, display, fig)
    gx, gy, magnitude = I.sobel(gray)
    _show(axes[9], gx, "Sobel x (brighter to the right: red)", "signed", fig)
    _show(axes[10], gy, "Sobel y (brighter downwards: red)", "signed", fig)
    _show(axes[11], magnitude, "Sobel magnitude sqrt(gx² + gy²)", "magnitude", fig)
    fig.suptitle("Image kernels (correlate2d, mode='same', mirrored borders); "
                 f"signed maps clipped at the {CLIP_PERCENTILE:g}th percentile of |value|")
    return fig


def denoise_figure(plt, gray, seed):
    """denoise.png: median vs mean filter on salt-and-pepper noise, Gaussian blur on Gaussian noise."""
    rng = np.random.default_rng(seed)
    salty = I.add_salt_and_pepper(gray, 0.1, rng=rng)
    median = I.median_filter(salty, 3)
    box = I.correlate2d(salty, I.kernels.get("box_blur"), mode="same", boundary="symm")
    noisy = I.add_gaussian_noise(gray, 0.1, rng=rng)
    blurred = I.correlate2d(noisy, I.gaussian_kernel(5, 1.0), mode="same", boundary="symm")
    noisy_median = I.median_filter(noisy, 3)
    panels = (
        (salty, "salt and pepper (10% of pixels)"),
        (median, "median filter 3x3"),
        (box, "mean (box) filter 3x3"),
        (noisy, "Gaussian noise (sigma 0.1)"),
        (blurred, "Gaussian blur 5x5, sigma 1"),
        (noisy_median, "median filter 3x3"),
    )
    fig, axes = plt.subplots(2, 3, figsize=(12, 9), layout="constrained")
    for ax, (img, title) in zip(axes.ravel(), panels):
        _show(ax, img, f"{title}\nPSNR {I.psnr(gray, img):.1f} dB")
    fig.suptitle("Denoising (PSNR against the clean photo, higher is better)\n"
                 "a median removes outliers and keeps edges, a mean smears them; "
                 "Gaussian noise calls for a Gaussian blur")
    return fig


def pooling_figure(plt, gray):
    """pooling.png: max and average pooling with 2x2 and 4x4 blocks; bottom row zoomed in."""
    pooled = [("original", 1, gray)]
    for size in (2, 4):
        for mode, name in (("max", "max"), ("avg", "average")):
            pooled.append((f"{name} pool {size}x{size}", size, I.pool2d(gray, size, mode=mode)))
    # The zoom: the central quarter (per side) of the photo, the same region in every panel.
    h, w = gray.shape
    zh, zw = max(8, h // 4), max(8, w // 4)
    top, left = (h - zh) // 2, (w - zw) // 2
    fig, axes = plt.subplots(2, len(pooled), figsize=(3.2 * len(pooled), 7), layout="constrained")
    for col, (title, size, img) in enumerate(pooled):
        _show(axes[0, col], img, f"{title}\n{img.shape[0]}x{img.shape[1]}")
        r0, c0 = top // size, left // size
        crop = img[r0:r0 + max(1, zh // size), c0:c0 + max(1, zw // size)]
        _show(axes[1, col], crop, f"zoom: {crop.shape[0]}x{crop.shape[1]} pixels")
    fig.suptitle("Pooling (pool2d, stride = size): max keeps the brightest pixel of each block, "
                 "average blurs; both shrink the image by the block size")
    return fig


def color_figure(plt, colour):
    """color.png: one kernel applied to each of the R, G, B channels separately."""
    sharp = I.correlate2d(colour, I.kernels.get("sharpen"), mode="same", boundary="symm")
    blur = I.correlate2d(colour, I.gaussian_kernel(7, 2.0), mode="same", boundary="symm")
    magnitude = I.sobel(colour)[2]
    edges = np.clip(magnitude / _robust_max(magnitude), 0, 1)     # per-channel edges as RGB
    panels = ((colour, "original"), (sharp, "sharpen"), (blur, "Gaussian blur 7x7, sigma 2"),
              (edges, "Sobel magnitude per channel"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 5), layout="constrained")
    for ax, (img, title) in zip(axes, panels):
        _show(ax, img, title)
    fig.suptitle("Colour: the same 2-D kernel applied to the R, G and B channels separately")
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", help="picture to filter (default: matplotlib's sample photo)")
    parser.add_argument("--out", default=os.path.join("runs", "image_filters"))
    parser.add_argument("--size", type=int, help="shrink the photo to about N x N pixels (faster)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    args = parser.parse_args(argv)
    if args.size is not None and args.size < 8:
        parser.error(f"--size must be at least 8, got {args.size}")

    colour, gray = load_photo(args.image, args.size)
    os.makedirs(args.out, exist_ok=True)

    from minicnn.viz import pyplot, save_figure  # matplotlib only now; Agg when there is no display
    plt = pyplot()
    written = {}
    for name, draw in (("filters.png", lambda: filters_figure(plt, gray)),
                       ("denoise.png", lambda: denoise_figure(plt, gray, args.seed)),
                       ("pooling.png", lambda: pooling_figure(plt, gray)),
                       ("color.png", lambda: color_figure(plt, colour))):
        fig = draw()
        try:
            path = os.path.join(args.out, name)
            save_figure(fig, path)                 # atomic PNG
            written[name] = path
        finally:
            plt.close(fig)
    print(f"photo {gray.shape[0]}x{gray.shape[1]}; wrote {', '.join(written)} to {args.out}")
    return written


if __name__ == "__main__":
    main()
