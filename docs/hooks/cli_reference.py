"""Generate the reference parts of the docs from the code at build time.

The command reference, the exit codes and the exception table are the parts of a runbook that
go stale first: someone adds a flag or an error class and forgets the page. Here a page holds
only a marker (``<!-- cluster:help -->``, ``<!-- cluster:exit-codes -->``,
``<!-- cluster:errors -->``) and the build puts in what ``cluster --help`` and
:mod:`cluster.errors` say today. A source that yields nothing fails the build instead of
leaving an empty section.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import re

from mkdocs.exceptions import PluginError

from cluster import errors
from cluster.cli import EXIT_CODES, build_parser

HELP_MARKER = "<!-- cluster:help -->"
EXIT_CODES_MARKER = "<!-- cluster:exit-codes -->"
ERRORS_MARKER = "<!-- cluster:errors -->"
#: A fixed width, so the page does not depend on the terminal that ran the build.
HELP_WIDTH = 90


def on_page_markdown(markdown: str, page, config, files) -> str:
    if HELP_MARKER in markdown:
        markdown = markdown.replace(HELP_MARKER, command_reference())
    if EXIT_CODES_MARKER in markdown:
        markdown = markdown.replace(EXIT_CODES_MARKER, exit_code_table())
    if ERRORS_MARKER in markdown:
        markdown = markdown.replace(ERRORS_MARKER, exception_table())
    return markdown


def command_reference() -> str:
    """``cluster --help`` and then one section per subcommand, in the parser's order."""
    parser = build_parser()
    sections = ["## `cluster`", "", _help_block(parser)]
    for name, sub in subcommands(parser).items():
        sections += ["", f"## `cluster {name}`", "", _help_block(sub)]
    return "\n".join(sections)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise PluginError("cluster's parser has no subcommands; the command reference would be empty")


def _help_block(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = functools.partial(parser.formatter_class, width=HELP_WIDTH)
    return f"```text\n{parser.format_help().rstrip()}\n```"


def exit_code_table() -> str:
    """The epilog every ``--help`` ends with, as a table."""
    codes = re.findall(r"^\s+(\d+)\s+(.+)$", EXIT_CODES, re.MULTILINE)
    if not codes:
        raise PluginError("cluster.cli.EXIT_CODES lists no exit codes")
    return "\n".join(["| code | meaning |", "|---|---|", *(f"| {c} | {m} |" for c, m in codes)])


def exception_table() -> str:
    """Every ClusterError subclass with its parent, exit code and the first line of its doc."""
    rows = ["| exception | derives from | exit code | meaning |", "|---|---|---|---|"]
    for cls in _subclasses(errors.ClusterError):
        parent = cls.__bases__[0].__name__ if cls is not errors.ClusterError else "Exception"
        summary = inspect.getdoc(cls).splitlines()[0]
        rows.append(f"| `{cls.__name__}` | `{parent}` | {cls.exit_code} | {summary} |")
    return "\n".join(rows)


def _subclasses(cls: type) -> list[type]:
    """Depth first, so each class sits right under its parent in the table."""
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found
