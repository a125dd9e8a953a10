"""A chart in a notebook: written as PNG and SVG with where it ran, and shown inline.

Every figure a notebook draws goes through :func:`show`: :func:`cluster.charts.save` writes
``out/figures/NAME.png`` and ``.svg`` with a footer naming the lab's kernel, the CPU and the
code (from :mod:`cluster.provenance`), and the notebook shows the SVG with the same line
under it, so a chart copied out of the notebook still says where it was measured.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from cluster.charts import save, where
from cluster.provenance import CHECKOUT
from cluster.views import Displayed

FIGURES = CHECKOUT / "out" / "figures"


@dataclass(frozen=True, repr=False)
class Chart(Displayed):
    """A saved chart: its files, and where its figures came from."""

    png: Path
    svg: Path
    where: str

    def html(self) -> str:
        # inline, without the XML prolog, so the page needs no second file
        svg = re.sub(r"^.*?(?=<svg)", "", self.svg.read_text(), flags=re.DOTALL)
        caption = html.escape(self.where)
        return f"<figure>{svg}<figcaption><small>{caption}</small></figcaption></figure>"

    def text(self) -> str:
        return f"chart {self.png} (and .svg); {self.where}"

    @classmethod
    def drawn(cls, paths: list[Path], documents: list[dict[str, Any]]) -> Chart:
        """The first chart of those a benchmark's own drawing wrote (``paths``: PNG, SVG,
        then any further charts), captioned with where ``documents`` ran."""
        png, svg = paths[:2]
        return cls(png, svg, where(documents))


def show(fig: Figure, name: str, provenance: dict[str, Any], folder: Path = FIGURES) -> Chart:
    """Save ``fig`` as ``folder/NAME``.png and .svg, with ``provenance`` in its footer."""
    documents = [{"provenance": provenance}]
    return Chart.drawn(save(fig, folder / name, documents), documents)
