"""Load a cluster spec from YAML, reporting every problem at its file:line.

ruamel.yaml keeps the line of every key and list item, which plain PyYAML throws away; that is
what lets a wrong type deep inside a spec point at its own line. The same library later
rewrites digests in place without losing the operator's comments (``cluster digest``).

Loading is pure: it takes text and a file name and never touches the system.

>>> from cluster.spec.load import read_spec
>>> spec, warnings = read_spec(SEED_TEXT, "seed.yaml")
>>> spec.master().name, len(spec.virtual_services), warnings
('director01', 2, [])
>>> try:
...     read_spec("name: x\\ndirectors:\\n  - name: d1\\n    priority: high\\n", "bad.yaml")
... except SpecError as err:
...     for problem in err.problems:
...         print(problem.location, problem.message)
bad.yaml:3 directors[0]: missing key 'router_id'
bad.yaml:3 directors[0]: missing key 'interfaces'
bad.yaml:4 directors[0].priority: 'high' is not a whole number
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from cluster.errors import Location, Problem, SpecError
from cluster.spec import model
from cluster.spec.validate import validate_spec

SEED_NAME = "seed.yaml"
SEED_TEXT = resources.files("cluster.spec").joinpath(SEED_NAME).read_text()
#: The seed with IPv6 beside IPv4: a VIP, a DIP and a service per family.
DUAL_STACK_PATH = Path(str(resources.files("cluster.spec").joinpath("dual-stack.yaml")))

PathItem = str | int


class SpecLocator:
    """Maps a path in the spec (``("directors", 1, "priority")``) to the line it was written on.

    A path that goes deeper than the YAML does (a key that is missing, say) resolves to the
    deepest node that exists, which is where the operator has to add it.
    """

    def __init__(self, filename: str, root: object = None) -> None:
        self.filename = filename
        self.root = root

    def __call__(self, path: Sequence[PathItem]) -> Location:
        node, line = self.root, 0
        for item in path:
            if isinstance(node, CommentedMap) and item in node:
                line = node.lc.key(item)[0] + 1
            elif isinstance(node, CommentedSeq) and isinstance(item, int) and item < len(node):
                line = node.lc.item(item)[0] + 1
            else:
                break
            node = node[item]
        return Location(self.filename, line)


def read_spec(text: str, filename: str = "<spec>") -> tuple[model.ClusterSpec, list[Problem]]:
    """Parse, type-check and validate a spec; return it with its warnings.

    Raises :class:`SpecError` carrying every error found, never a partial spec.
    """
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as err:
        raise SpecError([_yaml_problem(err, text, filename)]) from None
    locate = SpecLocator(filename, data)
    if not isinstance(data, dict):
        raise SpecError(
            [
                Problem(
                    locate(()),
                    "a cluster spec is a YAML mapping",
                    fix="start with 'name:' and 'directors:'; see the seed spec",
                )
            ]
        )
    try:
        spec = model.ClusterSpec.model_validate(data)
    except pydantic.ValidationError as err:
        raise SpecError(validation_problems(err, locate)) from None
    problems = validate_spec(spec, locate)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise SpecError(errors)
    return spec, problems


def load_spec(path: str | Path | None = None) -> model.ClusterSpec:
    """The spec in ``path``, or the built-in seed cluster when no path is given."""
    if path is None:
        return load_seed_spec()
    return read_spec(read_spec_file(path), str(path))[0]


def load_seed_spec() -> model.ClusterSpec:
    """The 2007 article's cluster, corrected; it ships inside the package."""
    return read_spec(SEED_TEXT, SEED_NAME)[0]


def dump_spec(spec: model.ClusterSpec) -> str:
    """The spec as YAML, leaving out every value that equals its default."""
    out = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.dump(spec.model_dump(mode="json", exclude_defaults=True), out)
    return out.getvalue()


def read_spec_file(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise SpecError(
            [
                Problem(
                    Location(str(path)),
                    f"cannot read the spec: {reason}",
                    fix="check the path; `cluster show` alone uses the seed",
                )
            ]
        ) from None


def _yaml_problem(err: YAMLError, text: str, filename: str) -> Problem:
    if isinstance(err, MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        line, reason = (mark.line + 1 if mark else 0), err.problem
    elif isinstance(err, ReaderError):
        line = text[: err.position].count("\n") + 1
        reason = f"character #x{err.character:04x} is not allowed"
    else:
        line, reason = 0, str(err)
    return Problem(
        Location(filename, line),
        f"not valid YAML: {reason}",
        fix="check the indentation, quoting and characters on this line",
    )


def validation_problems(
    err: pydantic.ValidationError, locate: Callable[[Sequence[PathItem]], Location]
) -> list[Problem]:
    """pydantic's complaints about a spec, in our words, each at the line ``locate`` gives.

    The one translation of pydantic's text: the loader and ``cluster import`` both use it, so
    no message of pydantic's own reaches an operator.
    """
    return [_problem_from(error, locate) for error in _dedup(err.errors())]


def _dedup(errors: list[Any]) -> list[Any]:
    """pydantic reports a union's failure once per member; one line per place is enough."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for error in errors:
        key = (*_yaml_path(error), error["type"])
        if key not in seen:
            seen.add(key)
            kept.append(error)
    return kept


def _yaml_path(error: Any) -> list[PathItem]:
    """The error's place as keys and indexes of the YAML document.

    pydantic adds the names of union members and validators to ``loc``; those are not keys
    an operator wrote. The last item of an unknown-key error is the operator's own key.
    """
    *parents, last = error["loc"] or ("",)
    path = [i for i in parents if isinstance(i, int) or i in _FIELD_NAMES]
    if isinstance(last, int) or last in _FIELD_NAMES or error["type"] == "extra_forbidden":
        path.append(last)
    return path


_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


def _problem_from(error: Any, locate: Callable[[Sequence[PathItem]], Location]) -> Problem:
    path = _yaml_path(error)
    where = _dotted(path)
    kind, ctx = error["type"], error.get("ctx", {})
    given = error.get("input")
    if kind == "missing":
        message, fix = f"missing key {path[-1]!r}", f"add '{path[-1]}:' here"
        where = _dotted(path[:-1])
    elif kind == "extra_forbidden":
        close = difflib.get_close_matches(str(path[-1]), _FIELD_NAMES, n=1)
        message = f"unknown key {path[-1]!r}"
        fix = f"did you mean '{close[0]}'?" if close else "remove it; see the seed spec for keys"
        where = _dotted(path[:-1])
    elif kind == "literal_error":
        message = f"{given!r} is not allowed"
        fix = f"use one of {ctx.get('expected', '')}"
    elif kind == "string_pattern_mismatch" and path and path[-1] == "digest":
        message = f"digest {given!r} is not 32 hex digits"
        fix = "paste the MD5SUM that `cluster genhash` (or keepalived's genhash) prints"
    elif kind == "string_pattern_mismatch" and path and path[-1] == "status_code":
        message = f"status_code {given!r} is not HTTP status codes or ranges"
        fix = "write codes and ranges separated by spaces, such as 200 or '200-299 503'"
    elif kind == "string_pattern_mismatch":
        message = f"{given!r} has characters that are not allowed"
        fix = "use letters, digits, '.', '_' and '-'"
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        message, fix = f"{given!r} is not a whole number", "write a number such as 100"
    elif kind in ("float_parsing", "float_type"):
        message, fix = f"{given!r} is not a number", "write a number such as 1 or 0.5"
    elif kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        shape = "a list" if kind == "list_type" else "a mapping of keys to values"
        message, fix = f"expected {shape}, got {type(given).__name__}", f"write {shape} here"
    elif kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        message = f"{given!r} is out of range: it must be {words} {ctx.get(key)}"
        fix = f"use a value {words} {ctx.get(key)}"
    elif kind in ("too_short", "string_too_short"):
        what = "item" if kind == "too_short" else "character"
        message = f"needs at least {ctx.get('min_length')} {what}(s)"
        fix = "add it"
    elif kind in ("too_long", "string_too_long"):
        what = "items" if kind == "too_long" else "characters"
        message = f"{given!r} has more than {ctx.get('max_length')} {what}"
        fix = f"shorten it to {ctx.get('max_length')} {what}"
    elif kind in ("bool_parsing", "bool_type"):
        message, fix = f"{given!r} is not true or false", "write true or false"
    elif kind == "value_error":
        message, fix = str(ctx.get("error", error["msg"])), ""
    else:
        message, fix = f"{given!r} is not accepted here", "see the seed spec for what goes here"
    label = f"{where}: " if where else ""
    return Problem(locate(path), label + message, fix=fix, code=f"spec-{kind}".replace("_", "-"))


def _dotted(path: Sequence[PathItem]) -> str:
    text = ""
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else f".{item}"
    return text.lstrip(".")


def _all_field_names() -> list[str]:
    names: set[str] = set()
    for cls in vars(model).values():
        if isinstance(cls, type) and issubclass(cls, pydantic.BaseModel):
            names.update(cls.model_fields)
    return sorted(names)


_FIELD_NAMES = _all_field_names()
