r"""Change values in a spec's YAML text and keep every other byte: comments, quotes, layout.

ruamel.yaml's round-trip loader records where each key was written; the new value is spliced
into the original text there. Dumping the round-trip document instead would re-indent every
sequence to one global style and re-wrap long lines (the seed's ``description`` is one), so an
operator's diff would show lines nobody changed.

Pure: text in, text out.

>>> text = 'urls:\n  - path: /\n    digest: "00"   # pinned\n  - {path: /b, digest: ~}\n'
>>> print(replace_scalars(text, {("urls", 0, "digest"): "ab", ("urls", 1, "digest"): "cd"}))
urls:
  - path: /
    digest: "ab"   # pinned
  - {path: /b, digest: cd}
<BLANKLINE>
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

PathItem = str | int

# From the start of a key: the key, its colon, the spaces after it, then the value's token.
# Only single-token scalars are replaced (digests, numbers, nulls), which is all an edit needs.
_KEY_AND_VALUE = re.compile(
    r"""(?:"[^"\n]*"|'[^'\n]*'|[^\s:]+)[ \t]*:(?P<space>[ \t]*)"""
    r"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s#,\[\]{}]*)"""
)


def replace_scalars(text: str, changes: Mapping[Sequence[PathItem], str]) -> str:
    """``text`` with the value of each mapping key at ``path`` set to the given plain word.

    A quoted old value keeps its quotes; an empty or null one becomes the word.
    """
    document = YAML(typ="rt").load(text)
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    splices = []
    for path, word in changes.items():
        *parents, key = path
        node = document
        for item in parents:
            node = node[item]
        if not isinstance(node, CommentedMap) or key not in node:
            raise KeyError(f"no key {'.'.join(map(str, path))} in the spec's text")
        line, column = node.lc.key(key)
        match = _KEY_AND_VALUE.match(text, line_starts[line] + column)
        assert match, f"ruamel.yaml placed key {key!r} where the text has none"
        old, start, end = match["value"], match.start("value"), match.end("value")
        if old[:1] in ("'", '"'):
            new = old[0] + word + old[0]
        elif old or (match["space"] and text[end : end + 1] not in ("#", "")):
            new = word
        else:
            # "digest:" alone, or before a comment: "#" right after a word is part of it.
            start = end = match.start("space")
            new = " " + word
        splices.append((start, end, new))
    for start, end, new in sorted(splices, reverse=True):
        text = text[:start] + new + text[end:]
    return text
