"""A griffe extension for the Python API page: the package's docstrings, read as Markdown.

The docstrings are written for ``help()`` and doctest: ``>>>`` examples with their output,
Sphinx roles (:func:`name`) and double backquotes. Read as Markdown, an example's output such
as ``['state BACKUP', 'priority 50']`` looks like a link, and a role stays as typed. So each
example becomes a ``pycon`` code block, and each role plain code, before mkdocstrings renders.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`~?([^`]+)`")


class DoctestsAsCode(griffe.Extension):
    """Fence doctest examples and flatten Sphinx roles in every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = as_markdown(obj.docstring.value)


def as_markdown(text: str) -> str:
    """``text`` with each run of ``>>>`` lines and their output fenced as ``pycon``."""
    out: list[str] = []
    in_example = False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not in_example:
            out += ["", "```pycon"]
            in_example = True
        elif in_example and not line.strip():
            out += ["```", ""]
            in_example = False
            continue
        out.append(line if in_example else _ROLE.sub(r"`\1`", line))
    if in_example:
        out.append("```")
    return "\n".join(out)
