"""What every tutorial step shares: its command line, its figures and its checks.

    from _common import Step
    step = Step("02_convolution_by_hand")     # parses --out DIR and --quick
    step.check(np.array_equal(a, b), "the loop agrees with image.convolve2d")
    step.save(fig, "worked_example.png")      # into --out
    step.done()                               # writes checks.json: what was checked, what was drawn

Importing this module also puts the repository root first on ``sys.path``, so
that every step runs from a fresh clone, without installing minicnn (and uses
this checkout's minicnn even when another one is installed).
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from minicnn.viz import pyplot, save_figure  # noqa: E402  (Agg when there is no display)


def in_notebook():
    """True inside Jupyter (or VS Code's interactive window): figures then stay open and show inline."""
    return "ipykernel" in sys.modules


class Step:
    """One step of the track: ``--out DIR`` (default ``runs/tutorial/<name>``) and ``--quick``.

    ``check`` is the step's ``assert``: it stops the script when minicnn and the
    hand computation disagree, prints what was checked, and counts it; ``done``
    writes the count into ``checks.json`` so that the tests can see the checks ran.
    """

    def __init__(self, name, description=""):
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--out", default=os.path.join("runs", "tutorial", name),
                            help=f"folder for the figures and checks.json (default runs/tutorial/{name})")
        parser.add_argument("--quick", action="store_true",
                            help="small and fast (what the tests run)")
        # In a notebook sys.argv holds the kernel's own arguments: take the defaults.
        args = parser.parse_args([] if in_notebook() else None)
        self.name, self.out, self.quick = name, args.out, args.quick
        os.makedirs(self.out, exist_ok=True)
        self.checks, self.figures = [], []
        self.start = time.perf_counter()
        self.plt = pyplot()
        print(f"{name}{' (quick)' if self.quick else ''}: writing into {self.out}")

    # -- checks ------------------------------------------------------------------
    def check(self, condition, text):
        """``assert condition``, printed and counted."""
        assert condition, f"check failed: {text}"
        self.checks.append(text)
        print(f"  check {len(self.checks)}: {text} - OK")

    def check_close(self, actual, expected, text, atol=1e-12):
        """Check that two arrays agree within ``atol``; the largest difference is printed."""
        actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        assert actual.shape == expected.shape, f"check failed: {text}: shapes {actual.shape} and {expected.shape}"
        diff = float(np.abs(actual - expected).max()) if actual.size else 0.0
        self.check(diff <= atol, f"{text} (max |difference| {diff:.1e})")

    # -- figures -----------------------------------------------------------------
    def save(self, fig, filename):
        """Write ``fig`` as a PNG into --out (atomically) and close it (in a notebook it stays open)."""
        path = os.path.join(self.out, filename)
        save_figure(fig, path)
        self.figures.append(filename)
        print(f"  wrote {path}")
        if not in_notebook():
            self.plt.close(fig)
        return path

    # -- the end -----------------------------------------------------------------
    def done(self, **numbers):
        """Write ``checks.json`` (the checks, the figures, ``numbers`` and the time) and say so."""
        seconds = time.perf_counter() - self.start
        record = {"step": self.name, "quick": self.quick, "checks": len(self.checks),
                  "passed": self.checks, "figures": self.figures, "seconds": round(seconds, 2), **numbers}
        with open(os.path.join(self.out, "checks.json"), "w") as f:
            json.dump(record, f, indent=2)
        print(f"{self.name}: {len(self.checks)} checks passed, {len(self.figures)} figures, {seconds:.1f} s")


# ---------------------------------------------------------------------------
# Two ways of drawing an array, used by several steps
# ---------------------------------------------------------------------------
def draw_matrix(ax, m, title, signed=None, fmt=None, fontsize=8, vmax=None):
    """A small matrix as coloured cells with every value written in.

    signed: a diverging map centred on 0 (red positive, blue negative, white 0);
    default when ``m`` has negative entries. Otherwise gray from 0 (black) up.
    """
    m = np.asarray(m)
    signed = bool((m < 0).any()) if signed is None else signed
    top = float(np.abs(m).max()) if vmax is None else vmax
    top = top or 1.0
    if signed:
        ax.imshow(m, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
    else:
        ax.imshow(m, cmap="gray", vmin=0, vmax=top, interpolation="nearest")
    if fmt is None:
        fmt = "d" if np.all(m == np.round(m)) else ".2f"
    for (i, j), v in np.ndenumerate(m):
        v = int(round(v)) if fmt == "d" else (0.0 if abs(v) < 0.005 else v)
        dark = abs(v) > 0.6 * top if signed else v < 0.5 * top
        ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=fontsize,
                color="white" if dark else "black")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(m.shape[1]))
    ax.set_yticks(range(m.shape[0]))
    ax.tick_params(labelsize=6, length=0)


def draw_image(ax, img, title, signed=False, fig=None, percentile=99.5, label=None):
    """An image panel: gray in [0, 1] (clipped), or signed on a diverging map centred on 0.

    A signed map is scaled to the ``percentile``-th percentile of |value| (so that a
    few extreme pixels do not wash out the rest); with ``fig`` it gets a colorbar.
    """
    if signed:
        top = float(np.percentile(np.abs(img), percentile)) or 1.0
        shown = ax.imshow(img, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
        if fig is not None:
            fig.colorbar(shown, ax=ax, shrink=0.8, pad=0.02, label=label)
    else:
        shown = ax.imshow(np.clip(img, 0, 1), cmap=None if np.ndim(img) == 3 else "gray",
                          vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return shown
