"""Folders of images: a folder of class subfolders of image files read with Pillow, a batch at a time.

    from minicnn import data

    folder = data.ImageFolder("photos", size=(224, 224), normalize="imagenet")
    folder.classes                       # ['cat', 'dog']: the subfolders, sorted
    model.fit(folder, None, loss, opt)   # the labels from the folder, one batch in memory

:class:`ImageFolder` reads ``root/<class>/<image>`` as torchvision's ``ImageFolder`` and
Keras's ``image_dataset_from_directory`` do; :func:`load_image` reads one file. Both decode
with Pillow (which matplotlib installs), resize (and centre-crop if asked) and give float32
CHW arrays in [0, 1], optionally normalised (:data:`NORMALIZATIONS`). Used through
``minicnn.data``, which re-exports every public name here.
"""
import copy
import numbers
import os

import numpy as np

from ._checks import check_bool, check_float, check_int, check_path, pair
from .devices import is_array, to_numpy

#: The file names ImageFolder reads (any case); files with other names are skipped.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")

#: Named normalisations, ``(mean, std)`` per RGB channel: what a network pretrained elsewhere
#: was trained on. "imagenet": torchvision's ImageNet models (VGG, ResNet, ...); "inception":
#: timm's Inception-v4 (and Keras's Inception models), which scale [0, 1] to [-1, 1].
NORMALIZATIONS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                  "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:        # matplotlib depends on Pillow, so this is a broken install
        raise ImportError("reading image files needs Pillow (pip install pillow; matplotlib installs it)") from exc
    return Image, ImageOps


def _crop_box(width, height, size, crop):
    """The part of a ``width`` x ``height`` image that becomes the ``size`` = (H, W) output:
    the whole image (``crop=None``: stretched to the output's shape), or the centred box of
    the output's aspect ratio, the largest that fits, scaled by ``crop`` (1.0: Keras's
    ``crop_to_aspect_ratio``; 0.875 for 224 from 256: torchvision's Resize(256) and
    CenterCrop(224), timm's ``crop_pct``). As (left, upper, right, lower) floats."""
    if crop is None:
        return (0.0, 0.0, float(width), float(height))
    scale = crop * min(width / size[1], height / size[0])
    w, h = size[1] * scale, size[0] * scale
    left, top = (width - w) / 2, (height - h) / 2
    return (left, top, left + w, top + h)


def _decode(path, size, channels, crop):
    """The image file at ``path`` as float32 (channels, H, W) in [0, 1]; ValueError naming the
    file for anything Pillow cannot decode (not an image, truncated, corrupt)."""
    Image, ImageOps = _pillow()
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)                 # as a viewer shows a phone's photo
            if img.mode.startswith("I"):                       # 16 or 32-bit grey: to 8 bits
                img = img.point(lambda v: v / 257).convert("L")
            elif img.mode == "P" and "transparency" in img.info:
                img = img.convert("RGBA")                      # (Pillow warns when P goes straight to RGB)
            img = img.convert(_MODES[channels])                # grey <-> RGB by BT.601 luma; alpha dropped
            if crop is not None or (size is not None and img.size != (size[1], size[0])):
                img = img.resize((size[1], size[0]), Image.BILINEAR, box=_crop_box(*img.size, size, crop))
            pixels = np.asarray(img, dtype=np.float32)
    except Exception as exc:          # Pillow raises OSError, SyntaxError, ValueError, ... on bad bytes
        raise ValueError(f"{path}: cannot read this image ({type(exc).__name__}: {exc})") from None
    pixels /= 255
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _normalization(normalize, channels):
    """``(mean, std)`` as float32 (C, 1, 1) arrays, or ``(None, None)``."""
    if normalize is None:
        return None, None
    if isinstance(normalize, str):
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be None, {', '.join(map(repr, NORMALIZATIONS))} or a pair "
                             f"(mean, std), got {normalize!r}")
        normalize = NORMALIZATIONS[normalize]
    if not isinstance(normalize, (tuple, list)) or len(normalize) != 2:
        raise TypeError(f"normalize must be None, a name such as 'imagenet' or a pair (mean, std), got {normalize!r}")
    out = []
    for name, values in zip(("mean", "std"), normalize):
        a = np.asarray(values, dtype=np.float64) if isinstance(values, (int, float, tuple, list)) else None
        if a is None or a.ndim > 1 or a.size not in (1, channels) or not np.all(np.isfinite(a)):
            raise ValueError(f"normalize's {name} must be a number or {channels} numbers (one per channel), "
                             f"got {values!r}")
        out.append(np.broadcast_to(a, (channels,)).astype(np.float32).reshape(channels, 1, 1))
    if np.any(out[1] <= 0):
        raise ValueError(f"normalize's std must be > 0, got {normalize[1]!r}")
    return out[0], out[1]


def _check_image_options(size, channels, crop):
    if size is not None:
        size = pair(size, "size")
    channels = check_int(channels, "channels", 1)
    if channels not in _MODES:
        raise ValueError(f"channels must be 1 (grey), 3 (RGB) or 4 (RGBA), got {channels}")
    if crop is not None:
        crop = check_float(crop, "crop", 0.0, 1.0, min_open=True)
        if size is None:
            raise ValueError("crop needs size: the crop has the aspect ratio of size")
    return size, channels, crop


def load_image(path, size=None, channels=3, crop=None, normalize=None):
    """One image file as float32 (channels, H, W): what :class:`ImageFolder` gives for it.

    ``size=(H, W)`` resizes (bilinear, antialiased); ``crop`` first cuts the centred box of
    that aspect ratio (see :class:`ImageFolder`); ``normalize`` subtracts a mean and divides
    by a standard deviation per channel. A batch of one: ``load_image(p, ...)[None]``.
    """
    path = check_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such image file: {path}")
    size, channels, crop = _check_image_options(size, channels, crop)
    mean, std = _normalization(normalize, channels)
    pixels = _decode(path, size, channels, crop)
    return pixels if mean is None else (pixels - mean) / std


class ImageFolder:
    """A folder of images, one subfolder per class, read a batch at a time.

        root/cat/001.jpg, root/cat/kitten.png, ..., root/dog/xyz.jpeg, ...

        folder = data.ImageFolder("root", size=(224, 224), normalize="imagenet")
        folder.classes                 # ['cat', 'dog']: the subfolders, sorted
        len(folder), folder.labels     # N, and (N,) int64 class indices (also .targets)
        folder[0]                      # (3, 224, 224) float32, decoded now
        folder[10:42]                  # (32, 3, 224, 224): a slice, an index array or a mask
        model.fit(folder, None, loss, opt)    # labels from the folder, one batch in memory

    As torchvision's ``ImageFolder`` and Keras's ``image_dataset_from_directory`` read it:
    the classes are the subfolders of ``root`` in sorted order, and the images are every
    file with an image name (:data:`IMAGE_EXTENSIONS`, any case) anywhere below its class
    folder, in sorted order. Nothing is decoded when the folder is made (only each file's
    header is read, to refuse what is not an image); ``folder[i]`` decodes with Pillow:

    - ``channels``: 3 (RGB, the default), 1 (grey) or 4 (RGBA); grey, RGB, RGBA, palette
      and 16-bit files all become that (grey from colour by the BT.601 luma, as Pillow's
      ``convert("L")``; an alpha channel is dropped, as torchvision's loader drops it);
      a JPEG's EXIF orientation is applied;
    - ``size=(H, W)``: resized to it (bilinear, antialiased when shrinking); ``None`` keeps
      the files' own size, which must then be the same for all (checked when the folder is
      made);
    - ``crop``: None stretches the whole image to ``size``; a fraction in (0, 1] first cuts
      the centred box of ``size``'s aspect ratio, the largest that fits, times ``crop``
      (1.0: Keras's ``crop_to_aspect_ratio``; 0.875 at 224 x 224: torchvision's
      ``Resize(256)`` and ``CenterCrop(224)``, timm's ``crop_pct``);
    - values float32 in [0, 1], NCHW; ``normalize``: a name of :data:`NORMALIZATIONS`
      ("imagenet" for torchvision's pretrained networks) or a pair ``(mean, std)``, then
      ``(x - mean) / std`` per channel.

    Skipped without a word: names starting with "." (``.DS_Store``, ``.ipynb_checkpoints``),
    files directly in ``root``; skipped and listed in ``folder.skipped``: files without an
    image name (``notes.txt``), and with ``skip_unreadable=True`` image files that cannot
    be read. Refused, with a ValueError naming the path: a missing ``root`` (a
    FileNotFoundError) or a file; a ``root`` with no class subfolder; a class folder
    with no image file, or none readable; an image file that is not an image, or whose
    header is damaged; with ``size=None``, files of different sizes. A truncated or
    corrupt image whose header is sound is refused when it is decoded, naming the file;
    ``verify=True`` decodes every image once when the folder is made, to find them all
    before training (one pass over the data).

    ``fit``, ``evaluate`` and ``predict`` take a folder in place of ``x`` (``y=None``: its
    labels), and read it one batch at a time, so a folder larger than memory trains; on a
    GPU each batch is moved there as it is read. Decoding is the slow part (a Python
    loop over files, one at a time): to train a head on a frozen body, run the body over
    the folder once and train on the stored features (``examples/finetune_folder.py``).
    """

    def __init__(self, root, size=None, channels=3, crop=None, normalize=None, verify=False,
                 skip_unreadable=False):
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a folder's name (str or os.PathLike), got {type(root).__name__} {root!r}")
        root = check_path(root, "root", refuse_folder=False)
        if not os.path.exists(root):
            raise FileNotFoundError(f"root {root!r}: no such folder")
        if not os.path.isdir(root):
            raise ValueError(f"root {root!r} is a file, not a folder of class subfolders")
        self.root = root
        self.size, self.channels, self.crop = _check_image_options(size, channels, crop)
        self.normalize = normalize
        self._mean, self._std = _normalization(normalize, self.channels)
        check_bool(verify, "verify")
        check_bool(skip_unreadable, "skip_unreadable")
        self.classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
        if not self.classes:
            raise ValueError(f"{root}: no class subfolders (an ImageFolder reads root/<class>/<image>; "
                             "hidden folders, starting with '.', are skipped)")
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}
        self.skipped = []
        self.samples = []                      # (path, class index), torchvision's name
        self._image_size = self.size or (0, 0)
        sizes = {}
        for k, name in enumerate(self.classes):
            found = self._scan_class(os.path.join(root, name), sizes, verify, skip_unreadable)
            self.samples += [(path, k) for path in found]
        self.labels = np.array([k for _, k in self.samples], dtype=np.int64)
        self.labels.flags.writeable = False
        if self.size is None:
            self._image_size = next(iter(sizes))

    def _scan_class(self, folder, sizes, verify, skip_unreadable):
        """The readable image files below one class folder, sorted."""
        found, unreadable = [], 0
        for parent, dirs, files in os.walk(folder, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = os.path.join(parent, name)
                if name.startswith("."):
                    continue
                if not name.lower().endswith(IMAGE_EXTENSIONS):
                    self.skipped.append((path, "not an image file name"))
                    continue
                try:
                    shape = self._check_file(path, verify)
                except ValueError as exc:
                    if not skip_unreadable:
                        raise
                    self.skipped.append((path, str(exc)))
                    unreadable += 1
                    continue
                if self.size is None:                   # then every file must have the first one's size
                    sizes.setdefault(shape, path)
                    if len(sizes) > 1:
                        (a, first), (b, _) = sizes.items()
                        raise ValueError(f"{path} is {b[0]} x {b[1]} but {first} is {a[0]} x {a[1]}: "
                                         "give size=(H, W) to resize them all")
                found.append(path)
        if not found:
            what = f"no readable image ({unreadable} image files that cannot be read, skipped)" if unreadable \
                else f"no image file (image files are named *{', *'.join(IMAGE_EXTENSIONS)}, in any case)"
            raise ValueError(f"{folder}: the class {os.path.basename(folder)!r} has {what}")
        return found

    def _check_file(self, path, verify):
        """An image file's (H, W) from its header, after decoding it all with ``verify``;
        ValueError naming the file for what Pillow cannot read."""
        Image, _ = _pillow()
        try:
            with Image.open(path) as img:
                shape = img.size[::-1]
        except Exception as exc:           # Pillow's errors for what is not an image: OSError, SyntaxError, ...
            raise ValueError(f"{path}: not an image Pillow can read ({type(exc).__name__}: {exc})") from None
        if verify:
            _decode(path, self.size, self.channels, self.crop)
        return shape

    # -- as an array of images -----------------------------------------------------
    @property
    def targets(self):
        """The labels (torchvision's name)."""
        return self.labels

    @property
    def shape(self):
        """``(N, C, H, W)``: the shape ``folder[:]`` would have."""
        return (len(self.samples), self.channels, *self._image_size)

    dtype = np.dtype(np.float32)
    ndim = 4

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        """``folder[i]``: (C, H, W); a slice, an int array or a boolean mask: (B, C, H, W)."""
        if isinstance(index, (numbers.Integral, np.integer)) and not isinstance(index, (bool, np.bool_)):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} is out of range for an ImageFolder of {len(self)} images")
            return self._load(self.samples[i][0])
        rows = range(len(self))[index] if isinstance(index, slice) else self._rows(index)
        batch = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        for j, i in enumerate(rows):
            batch[j] = self._load(self.samples[i][0])
        return batch

    def _rows(self, index, name="index"):
        """The sample numbers an int array, a list or a boolean mask selects, checked."""
        if not (isinstance(index, (list, tuple)) or is_array(index)):
            raise TypeError(f"an ImageFolder is indexed by an int, a slice or an array of indices, "
                            f"got {type(index).__name__}")
        index = to_numpy(index) if is_array(index) else np.asarray(index)
        if index.size == 0:
            return np.zeros(0, np.int64)
        if index.ndim != 1 or index.dtype.kind not in "biu":
            raise TypeError(f"{name} must be ints or a boolean mask, one dimension, got {index.dtype} "
                            f"of shape {index.shape}")
        if index.dtype.kind == "b":
            if len(index) != len(self):
                raise IndexError(f"a boolean {name} must have one value per image ({len(self)}), got {len(index)}")
            return np.flatnonzero(index)
        bad = (index < -len(self)) | (index >= len(self))
        if bad.any():
            raise IndexError(f"{name} {int(index[bad][0])} is out of range for an ImageFolder of {len(self)} images")
        return index % len(self)

    def __array__(self, *args, **kwargs):
        raise TypeError("an ImageFolder is read a batch at a time (folder[i:j]); folder[:] decodes every "
                        "image into one array, if it fits in memory")

    def _load(self, path):
        pixels = _decode(path, self.size, self.channels, self.crop)
        if pixels.shape[1:] != self._image_size:
            raise ValueError(f"{path} is {pixels.shape[1]} x {pixels.shape[2]}, the folder's images "
                             f"{self._image_size[0]} x {self._image_size[1]}: give size=(H, W)")
        return pixels if self._mean is None else (pixels - self._mean) / self._std

    def load(self, path):
        """Any image file read as the folder reads its own: (C, H, W) float32."""
        if not os.path.isfile(check_path(path)):
            raise FileNotFoundError(f"no such image file: {path}")
        return self._load(path)

    # -- parts ---------------------------------------------------------------------
    def subset(self, indices):
        """A folder of the images at ``indices`` (an int array or a list), same classes and settings."""
        rows = self._rows(indices, "indices")
        if len(rows) == 0:
            raise ValueError("subset: indices select no image")
        part = copy.copy(self)
        part.samples = [self.samples[i] for i in rows]
        part.labels = self.labels[rows]
        part.labels.flags.writeable = False
        return part

    def split(self, validation=0.2, seed=0):
        """``(train, val)``: each class's images shuffled with ``seed`` and ``validation`` of
        them (rounded; at least one, and one left to train on) put aside, so that both parts
        keep the classes' shares."""
        validation = check_float(validation, "validation", 0.0, 1.0, min_open=True, max_open=True)
        rng = np.random.default_rng(check_int(seed, "seed", 0))
        val = []
        for k in range(len(self.classes)):
            members = rng.permutation(np.flatnonzero(self.labels == k))
            if len(members) < 2:
                raise ValueError(f"split: the class {self.classes[k]!r} has {len(members)} image, "
                                 "too few to put one aside")
            val += list(members[:min(len(members) - 1, max(1, round(validation * len(members))))])
        val = np.sort(np.array(val))
        return self.subset(np.setdiff1d(np.arange(len(self)), val)), self.subset(val)

    def __repr__(self):
        crop = "" if self.crop is None else f", crop={self.crop}"
        norm = "" if self.normalize is None else f", normalize={self.normalize!r}"
        return (f"ImageFolder({self.root!r}: {len(self)} images of {len(self.classes)} classes, "
                f"shape {self.shape}{crop}{norm})")
