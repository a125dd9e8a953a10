"""Generate the spec schema and the lint codes pages of the reference from the code.

A page holds only a marker and the build puts in what the package says today:

- ``<!-- cluster:spec-schema -->``: every class of :mod:`cluster.spec.model`, reached from
  ``ClusterSpec``, with each field's type, default and what it becomes on a director
  (:data:`cluster.spec.becomes.BECOMES`);
- ``<!-- cluster:lint-codes -->``: every code of :data:`cluster.keepalived.lint.LINT_CODES`.

A field without an entry in ``BECOMES`` fails the build, so the page never has a gap.
"""

from __future__ import annotations

import inspect
import ipaddress
import re
import types
import typing
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from mkdocs.exceptions import PluginError
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cluster.keepalived.keywords import TOP
from cluster.keepalived.lint import KEEPALIVED_CODES, LINT_CODES
from cluster.spec.becomes import BECOMES, Keyword
from cluster.spec.model import ClusterSpec

SCHEMA_MARKER = "<!-- cluster:spec-schema -->"
LINT_MARKER = "<!-- cluster:lint-codes -->"

#: The address types by what an operator writes.
_ADDRESSES = {
    frozenset({ipaddress.IPv4Address, ipaddress.IPv6Address}): "IP address",
    frozenset({ipaddress.IPv4Interface, ipaddress.IPv6Interface}): "address/prefix",
    frozenset({ipaddress.IPv4Network, ipaddress.IPv6Network}): "network",
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    if SCHEMA_MARKER in markdown:
        markdown = markdown.replace(SCHEMA_MARKER, schema_reference())
    if LINT_MARKER in markdown:
        markdown = markdown.replace(LINT_MARKER, lint_code_table())
    return markdown


def schema_reference() -> str:
    """One section per model class, in the order a spec nests them."""
    sections = []
    for cls in _classes(ClusterSpec):
        doc = inspect.getdoc(cls) or ""
        rows = ["| field | type | default | becomes |", "|---|---|---|---|"]
        for name, field in cls.model_fields.items():
            key = f"{cls.__name__}.{name}"
            if key not in BECOMES:
                raise PluginError(f"{key} has no entry in cluster/spec/becomes.py BECOMES")
            rows.append(
                f"| `{name}` | {_type(field.annotation, field.metadata)} | {_default(field)} "
                f"| {_becomes(key)} |"
            )
        sections += [f"## {cls.__name__}", "", _markdown(doc.split("\n\n")[0]), ""]
        sections += [*rows, ""]
    return "\n".join(sections)


def _markdown(docstring: str) -> str:
    """A docstring paragraph in Markdown: ``code`` and :role:`name` become `code`."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", docstring.replace("\n", " "))
    return text.replace("``", "`")


def lint_code_table() -> str:
    rows = ["| code | keepalived -t too | finding |", "|---|---|---|"]
    for code, meaning in sorted(LINT_CODES.items()):
        rows.append(f"| `{code}` | {'yes' if code in KEEPALIVED_CODES else ''} | {meaning} |")
    return "\n".join(rows)


def _classes(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model class its fields hold, depth first, each once."""
    found: list[type[BaseModel]] = []

    def visit(cls: type[BaseModel]) -> None:
        if cls in found:
            return
        found.append(cls)
        for field in cls.model_fields.values():
            for inner in _models_in(field.annotation):
                visit(inner)

    visit(root)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _type(annotation: Any, metadata: list[Any] = ()) -> str:
    """An annotation as an operator reads it: ``list of IP address``, ``1..255``."""
    limits = _limits(metadata)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0], [*args[1:], *metadata])
    if origin in (typing.Union, types.UnionType):
        members = frozenset(args) - {type(None)}
        if members in _ADDRESSES:
            text = _ADDRESSES[members]
        else:
            text = " or ".join(_type(a) for a in args if a is not type(None))
        return text + (" or none" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type(args[0])}" + (f" ({limits})" if limits else "")
    if origin is dict:
        return f"map of {_type(args[0])} to {_type(args[1])}"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    name = {str: "text", int: "integer", float: "number", bool: "true/false"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )
    return name + (f" ({limits})" if limits else "")


def _limits(metadata: list[Any]) -> str:
    words = []
    for item in metadata:
        if isinstance(item, FieldInfo):  # Field(ge=1) inside an Annotated alias
            words += [_limits(item.metadata)] if item.metadata else []
        for cls, attribute, sign in ((Ge, "ge", ">="), (Gt, "gt", ">"), (Le, "le", "<="),
                                     (Lt, "lt", "<")):  # fmt: skip
            if isinstance(item, cls):
                words.append(f"{sign} {getattr(item, attribute)}")
        if isinstance(item, MinLen):
            words.append(f"at least {item.min_length}")
        if isinstance(item, MaxLen):
            words.append(f"at most {item.max_length} long")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            words.append(f"matches `{pattern}`".replace("|", "\\|"))
    return ", ".join(words)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if isinstance(value, BaseModel):
        return "defaults" if value.model_dump(exclude_defaults=True) == {} else repr(value)
    if value is None:
        return "none"
    if value == "":
        return '`""`'
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"


def _becomes(key: str) -> str:
    entry = BECOMES[key]
    if isinstance(entry, Keyword):
        where = "top level" if entry.block == TOP else entry.block
        note = f"; {entry.note}" if entry.note else ""
        return f"`{entry.keyword}` ({where}{note})"
    return entry.what
