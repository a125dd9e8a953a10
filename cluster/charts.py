"""Where every chart goes: PNG for notebooks and quick looks, SVG for the docs.

matplotlib is told to draw off-screen before pyplot is first imported: a director or a CI
machine has no display, and the default back-end would try Tk.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure


def save(fig: Figure, prefix: Path) -> list[Path]:
    """Write ``fig`` to ``prefix``.png and ``prefix``.svg, then free it."""
    from matplotlib import pyplot as plt

    fig.tight_layout()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = [prefix.with_suffix(".png"), prefix.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths
