"""Draw the seed cluster for the home page, from its spec, at build time.

The home page shows the topology a reader is about to build. A hand-drawn picture would go
stale the first time someone changed an address in ``cluster/spec/seed.yaml``; this one is
:func:`cluster.drawing.topology_figure` of the seed spec, the same drawing the first notebook
shows, written into the site as ``topology.svg``.
"""

from __future__ import annotations

import io

from mkdocs.structure.files import File

from cluster import charts  # noqa: F401  (chooses matplotlib's off-screen back-end first)
from cluster.drawing import topology_figure
from cluster.spec import load_seed_spec

#: Where the picture lands in the site; docs/index.md shows it.
PICTURE = "topology.svg"


def on_files(files, config):
    files.append(File.generated(config, PICTURE, content=seed_topology_svg()))
    return files


def seed_topology_svg() -> bytes:
    """The seed cluster's drawing as SVG, without the date matplotlib would stamp in, so two
    builds of the same spec give the same bytes."""
    from matplotlib import pyplot as plt

    fig = topology_figure(load_seed_spec())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()
