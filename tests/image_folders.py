"""Folders of image files for the tests of ImageFolder and examples/finetune_folder.py.

- :func:`shapes`: (N, H, W, 3) uint8 pictures of a circle, a square or a triangle, of
  random size, place and colours on a random background, with noise;
- :func:`write_shapes_folder`: such pictures as PNG and JPEG files in root/<shape>/;
- :func:`write_digits_folder`: MNIST digits as PNG files in root/<digit>/.
"""
import os

import numpy as np

SHAPES = ("circle", "square", "triangle")


def shapes(n, size=32, seed=0):
    """``(images, labels)``: (n, size, size, 3) uint8 and (n,) labels 0..2 (SHAPES' order)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    rng.shuffle(labels)
    rows, cols = np.mgrid[:size, :size] + 0.5
    images = np.empty((n, size, size, 3), np.uint8)
    for i, k in enumerate(labels):
        r = rng.uniform(0.18, 0.32) * size                  # half the shape's width
        cy, cx = rng.uniform(r + 1, size - r - 1, 2)
        dy, dx = (rows - cy) / r, (cols - cx) / r
        inside = [dy ** 2 + dx ** 2 <= 1,                                   # circle
                  np.maximum(abs(dy), abs(dx)) <= 0.8,                      # square (its area near the circle's)
                  (dy <= 0.8) & (abs(dx) <= (dy + 1) * 0.6)][k]             # triangle, apex up
        background, colour = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        while np.abs(colour - background).sum() < 200:     # visible on its background
            colour = rng.integers(0, 256, 3)
        picture = np.where(inside[..., None], colour, background) + rng.normal(0, 12, (size, size, 3))
        images[i] = np.clip(picture, 0, 255).astype(np.uint8)
    return images, labels


def write_shapes_folder(root, n=300, size=32, seed=0):
    """n pictures in root/circle, root/square, root/triangle (every fourth a JPEG); returns
    the file paths in the folder's order's classes and the labels."""
    from PIL import Image
    images, labels = shapes(n, size, seed)
    for name in SHAPES:
        os.makedirs(os.path.join(root, name), exist_ok=True)
    for i, (image, k) in enumerate(zip(images, labels)):
        ext = "jpg" if i % 4 == 3 else "png"
        Image.fromarray(image).save(os.path.join(root, SHAPES[k], f"{i:04d}.{ext}"))
    return images, labels


def write_digits_folder(root, images, labels, names=None):
    """uint8 (N, 28, 28) digits as root/<name of the label>/<i>.png."""
    from PIL import Image
    for i, (image, k) in enumerate(zip(images, labels)):
        folder = os.path.join(root, str(k) if names is None else names[k])
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image).save(os.path.join(folder, f"{i:05d}.png"))
