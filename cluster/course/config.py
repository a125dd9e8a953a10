"""Step 3: keepalived.conf, rendered from the spec, linted, tested by keepalived itself, and
set beside the 2007 article's file with what is wrong with it."""

from __future__ import annotations

import difflib

from cluster.course import article
from cluster.course.target import Target
from cluster.director.plan import desired_state
from cluster.errors import ToolError
from cluster.keepalived.lint import lint, lint_file
from cluster.keepalived.render import render_keepalived_conf
from cluster.keepalived.syntax import parse_text
from cluster.spec.model import ClusterSpec
from cluster.views import Block, Columns, Note, Shows, problem_table


def conf(target: Target) -> str:
    """The keepalived.conf ``cluster apply`` writes on the target's director."""
    return desired_state(target.spec, target.node, layout=target.layout).keepalived_conf


def rendered(target: Target) -> Shows:
    """The director's file, our linter's findings on it, and ``keepalived -t``'s verdict,
    run on the director itself (its interfaces are what keepalived checks names against)."""
    text = conf(target)
    director = target.spec.director(target.node)
    assert director is not None  # connect() checked the node
    interfaces = [i.name for i in director.interfaces]
    findings = lint(parse_text(text, "keepalived.conf"), interfaces)
    try:
        warnings = target.keepalived().test(text)
        verdict = Note(
            f"{target.node}: keepalived -t exit 0, "
            + (f"with warnings: {warnings}" if warnings else "clean (no output)"),
            "problem" if warnings else "ok",
        )
    except ToolError as err:
        verdict = Note(str(err), "problem")
    path = f"{target.node}: {target.layout.keepalived_conf}"
    return Shows((Block(path, text), problem_table(findings, "cluster lint"), verdict))


def directors_diff(spec: ClusterSpec) -> Block:
    """How the directors' files differ: only in what makes one the master."""
    names = [d.name for d in spec.directors]
    first, *others = names
    lines = []
    for other in others:
        lines += difflib.unified_diff(
            render_keepalived_conf(spec, first).splitlines(),
            render_keepalived_conf(spec, other).splitlines(),
            f"{first}/keepalived.conf",
            f"{other}/keepalived.conf",
            lineterm="",
            n=0,
        )
    return Block(f"diff of {' and '.join(names)}", "\n".join(lines))


def against_article(target: Target) -> Shows:
    """The article's file for this director beside ours, and what our linter finds in it."""
    path = article.config(target.node)
    findings = lint_file(path)
    side = Columns(
        (
            Block(f"the article's {path.name}", path.read_text()),
            Block(f"ours: {target.node}", conf(target)),
        )
    )
    return Shows((side, problem_table(findings, f"cluster lint {path.name}")))
