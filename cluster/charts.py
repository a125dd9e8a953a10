"""Where every chart goes: PNG for notebooks and quick looks, SVG for the docs.

matplotlib is told to draw off-screen before pyplot is first imported: a director or a CI
machine has no display, and the default back-end would try Tk. Every chart of a benchmark
carries a footer that says where its figures came from (:func:`where`), so that a chart
copied into a slide or a printout still says which kernel and CPU it measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure


def where(documents: list[dict[str, Any]]) -> str:
    """One line from the documents' provenance: lab mode and kernel, host CPU, code, date.

    >>> where([{"provenance": {"time": "2026-11-29T22:41:32+0000",
    ...   "code": {"revision": "8d0519e1a2b3", "dirty": True},
    ...   "host": {"cpu_model": "AMD EPYC 9B14", "cpus": 2},
    ...   "lab": {"mode": "uml", "kernel": "6.1.176", "pinned_cpus": [0]}}}])
    'uml 6.1.176, pinned to CPU 0 · AMD EPYC 9B14, 2 CPUs · 8d0519e (dirty) · 2026-11-29'
    """
    lines = []
    for doc in documents:
        found = doc.get("provenance") or {}
        lab, host, code = found.get("lab") or {}, found.get("host") or {}, found.get("code") or {}
        kernel = f"{lab['mode']} {lab['kernel']}" if lab else "no lab"
        if lab.get("pinned_cpus"):
            kernel += f", pinned to CPU {','.join(map(str, lab['pinned_cpus']))}"
        revision = (code.get("revision") or "no git")[:7] + (
            " (dirty)" if code.get("dirty") else ""
        )
        parts = [kernel, f"{host.get('cpu_model', '?')}, {host.get('cpus', '?')} CPUs", revision,
                 str(found.get("time", "?"))[:10]]  # fmt: skip
        lines.append(" · ".join(parts))
    return "\n".join(dict.fromkeys(lines)) or "provenance unknown"


def save(fig: Figure, prefix: Path, documents: list[dict[str, Any]] | None = None) -> list[Path]:
    """Write ``fig`` to ``prefix``.png and ``prefix``.svg, then free it; with
    ``documents``, their provenance goes in a footer."""
    from matplotlib import pyplot as plt

    if documents is not None:
        fig.text(0.01, 0.005, where(documents), fontsize=7, color="#555555", va="bottom")
        fig.tight_layout(rect=(0, 0.05 + 0.02 * where(documents).count("\n"), 1, 1))
    else:
        fig.tight_layout()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = [prefix.with_suffix(".png"), prefix.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths
