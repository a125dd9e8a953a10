"""Render the notebooks as they were executed, executing them only when their copy is stale.

The notebooks are committed without outputs. ``cluster notebooks execute`` (which the tests
run) keeps an executed copy of each in ``out/notebooks/``, stamped with the code and the
notebook it came from (:func:`cluster.course.execute.stamp`). Here each notebook page is made
from that copy; the notebooks whose copy is missing or stale are executed first, in one
kernel against one lab, and a lab this build brought up is taken down again. So a CI run
executes each notebook once, and a second build of unchanged sources executes nothing.

``DOCS_NOTEBOOKS=saved`` is for writing pages: it renders whatever copies ``out/notebooks/``
holds, stale or not, and a notebook without a copy as committed (no outputs), so a build takes
seconds and needs neither root nor the lab. A published site never comes from it: CI and
``scripts/docs.sh`` without the variable execute every stale notebook.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from cluster.course import execute
from cluster.errors import ClusterError

log = logging.getLogger("mkdocs.hooks.notebooks")


@event_priority(-100)  # after mkdocs-jupyter wrapped the files: set the path on its wrapper
def on_files(files, config):
    pages = [f for f in files if re.fullmatch(r"notebooks/[^/]+\.ipynb", f.src_uri)]
    sources = [execute.NOTEBOOKS / Path(f.src_uri).name for f in pages]
    saved = os.environ.get("DOCS_NOTEBOOKS") == "saved"
    if not saved:
        try:
            execute.execute(sources, execute.OUT, {}, log.info, stale_only=True, down_after=True)
        except ClusterError as err:
            raise PluginError(f"executing the notebooks failed: {err}") from err
    for page in pages:
        copy = execute.OUT / Path(page.src_uri).name
        if copy.exists():
            page.abs_src_path = str(copy)
        else:
            log.info("DOCS_NOTEBOOKS=saved: %s has no executed copy, shown without outputs", copy)
    return files
