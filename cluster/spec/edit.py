r"""Change values in a spec's YAML text and keep every other byte: comments, quotes, layout.

ruamel.yaml's round-trip loader records where each key was written; the new value is spliced
into the original text there. Dumping the round-trip document instead would re-indent every
sequence to one global style and re-wrap long lines (the seed's ``description`` is one), so an
operator's diff would show lines nobody changed.

Besides replacing scalars, it adds a key to a mapping and adds or deletes a list item
(``cluster op`` changes weights and real servers this way), splicing whole lines.

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

import io
import re
from collections.abc import Mapping, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

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


def _node(document: object, path: Sequence[PathItem]) -> object:
    node = document
    for item in path:
        node = node[item]  # type: ignore[index]
    return node


def _block(node: object, path: Sequence[PathItem]) -> None:
    """Refuse a flow-style node (``[a, b]``, ``{k: v}``): lines cannot be spliced into it."""
    if isinstance(node, CommentedMap | CommentedSeq) and node.fa.flow_style():
        where = ".".join(map(str, path))
        raise ValueError(f"{where} is written in flow style ([...] or {{...}}); "
                         "write it as a block, one entry per line, or edit it by hand")  # fmt: skip


def insert_key(text: str, path: Sequence[PathItem], key: str, word: str, after: str) -> str:
    """``text`` with ``key: word`` added to the block mapping at ``path``, on the line after
    its key ``after`` (whose value must fit on its line).

    >>> print(insert_key("rs:\\n  - address: 10.0.0.5   # web\\n    port: 80\\n", ("rs", 0),
    ...                  "weight", "3", after="port"), end="")
    rs:
      - address: 10.0.0.5   # web
        port: 80
        weight: 3
    """
    document = YAML(typ="rt").load(text)
    mapping = _node(document, path)
    if not isinstance(mapping, CommentedMap) or after not in mapping or key in mapping:
        raise KeyError(f"cannot add {key} after {after} at {'.'.join(map(str, path))}")
    _block(mapping, path)
    line, column = mapping.lc.key(after)
    lines = text.splitlines(keepends=True)
    lines.insert(line + 1, f"{' ' * column}{key}: {word}\n")
    return "".join(lines)


def _item_lines(lines: list[str], items: CommentedSeq, index: int) -> tuple[int, int, int]:
    """Where item ``index`` of a block sequence is: its first line, the line after its last
    (comments and blank lines after it go with what follows), and the column of its dash."""
    line, column = items.lc.item(index)
    dash = lines[line].rfind("-", 0, column)
    end = line + 1
    while end < len(lines):
        rest = lines[end].lstrip()
        if rest.strip() and not rest.startswith("#") and len(lines[end]) - len(rest) <= dash:
            break
        end += 1
    while end > line + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip()[:1] == "#"):
        end -= 1
    return line, end, dash


def _sequence(text: str, path: Sequence[PathItem]) -> CommentedSeq:
    items = _node(YAML(typ="rt").load(text), path)
    if not isinstance(items, CommentedSeq) or not items:
        raise KeyError(f"no list with entries at {'.'.join(map(str, path))} in the spec's text")
    _block(items, path)
    return items


def delete_item(text: str, path: Sequence[PathItem], index: int) -> str:
    """``text`` without item ``index`` of the block sequence at ``path`` (with its lines);
    the last item leaves ``[]``.

    >>> print(delete_item("l:\\n  - a: 1\\n    b: 2\\n  - a: 3\\nz: 0\\n", ("l",), 0), end="")
    l:
      - a: 3
    z: 0
    """
    items = _sequence(text, path)
    lines = text.splitlines(keepends=True)
    start, end, _ = _item_lines(lines, items, index)
    text = "".join(lines[:start] + lines[end:])
    return replace_scalars(text, {tuple(path): "[]"}) if len(items) == 1 else text


def append_item(text: str, path: Sequence[PathItem], value: Mapping[str, object]) -> str:
    """``text`` with ``value`` added as the last item of the block sequence at ``path``,
    indented as the items before it.

    >>> print(append_item("l:\\n  - a: 1\\nz: 0\\n", ("l",), {"a": 2, "b": {"c": 3}}), end="")
    l:
      - a: 1
      - a: 2
        b:
          c: 3
    z: 0
    """
    items = _sequence(text, path)
    lines = text.splitlines(keepends=True)
    _, end, dash = _item_lines(lines, items, len(items) - 1)
    out = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.dump([dict(value)], out)  # "  - key: ...": the dash at column 2
    block = [
        " " * dash + line[2:] if line.strip() else line for line in out.getvalue().splitlines(True)
    ]
    if end == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines[:end] + block + lines[end:])


def has_key(text: str, path: Sequence[PathItem], key: str) -> bool:
    """Whether the mapping at ``path`` spells out ``key`` (a default left out does not).

    >>> has_key("rs:\\n  - address: 10.0.0.5\\n", ("rs", 0), "weight")
    False
    """
    mapping = _node(YAML(typ="rt").load(text), path)
    return isinstance(mapping, CommentedMap) and key in mapping
