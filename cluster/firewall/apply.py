"""Load a director's rule set, read back what is loaded, remove it, or try it under a timer.

Every function touches only our own rules (:mod:`cluster.firewall.nftables`'s table or
:mod:`cluster.firewall.iptables`'s chains) and takes ``netns``: ``None`` is the machine itself,
a name runs the programs inside that network namespace, which is how the lab and the tests
use it. A change is computed against what is loaded now, so applying twice changes nothing.

nft loads one transaction. iptables-restore commits per table and per address family, so when
a later step fails, the rules of ours from before are put back; either way a rule set that
does not load leaves the previous one of ours in place and raises :class:`ToolError`.

``apply_with_confirm`` is ``iptables-apply`` as a function: load, wait for a confirmation,
and restore the previous rules of ours unless it comes in time. An operator who has locked
themselves out cannot confirm, so the old rules come back by themselves. Example, as root,
in a namespace of its own::

    import subprocess
    from cluster.firewall.apply import apply_with_confirm, ask, read_loaded, remove
    from cluster.firewall.rules import director_rules
    from cluster.spec import load_seed_spec

    subprocess.run(["ip", "netns", "add", "fw-demo"], check=True)
    rules = director_rules(load_seed_spec(), "director01")
    kept = apply_with_confirm(rules, "nftables", 30, ask, netns="fw-demo")
    print(kept, read_loaded("nftables", netns="fw-demo")["nft"][:40])
    remove("nftables", netns="fw-demo")
    subprocess.run(["ip", "netns", "del", "fw-demo"], check=True)
"""

from __future__ import annotations

import select
import sys
from collections.abc import Callable
from typing import TextIO

from cluster.command import run
from cluster.errors import ToolError
from cluster.firewall import BACKENDS, BackendName
from cluster.firewall.rules import RuleSet

#: Per loader program ("nft", "iptables", "ip6tables"), our rules as that program lists them.
Loaded = dict[str, str]


def read_loaded(backend: BackendName, netns: str | None = None) -> Loaded:
    """Our rules as the kernel holds them now; "" for a program that has none of ours."""
    module = BACKENDS[backend]
    return {p: module.listed(p, run(module.list_command(p), netns)) for p in module.PROGRAMS}


def load(ruleset: RuleSet, backend: BackendName, netns: str | None = None) -> Loaded:
    """Replace our rules with ``ruleset``; returns the previous ones, for :func:`restore`."""
    return _replace(backend, BACKENDS[backend].ours(ruleset), netns)


def restore(previous: Loaded, backend: BackendName, netns: str | None = None) -> None:
    """Put back rules of ours that :func:`load` or :func:`remove` returned."""
    _replace(backend, previous, netns)


def remove(backend: BackendName, netns: str | None = None) -> Loaded:
    """Delete our table or chains and the jumps to them; returns what was there."""
    return _replace(backend, dict.fromkeys(BACKENDS[backend].PROGRAMS, ""), netns)


def apply_with_confirm(
    ruleset: RuleSet,
    backend: BackendName,
    seconds: float,
    confirmed: Callable[[float], bool],
    netns: str | None = None,
) -> bool:
    """Load ``ruleset``, then keep it only if ``confirmed(seconds)`` says so in time.

    ``confirmed`` waits at most ``seconds`` (see :func:`ask`). Anything but True, including
    an exception such as Ctrl-C, restores the previous rules of ours. Returns whether the
    new rules were kept.
    """
    previous = load(ruleset, backend, netns)
    kept = False
    try:
        kept = confirmed(seconds)
    finally:
        if not kept:
            restore(previous, backend, netns)
    return kept


def ask(seconds: float, stream: TextIO = sys.stdin, out: TextIO = sys.stderr) -> bool:
    """Wait up to ``seconds`` for "yes" on ``stream``; silence or anything else is a no."""
    out.write(
        f"The new settings are live. Check that a new SSH session still gets in, then "
        f"type 'yes' within {seconds:g} s to keep them; otherwise the old ones come back.\n"
    )
    out.flush()
    ready, _, _ = select.select([stream], [], [], seconds)
    return bool(ready) and stream.readline().strip().lower() in {"y", "yes"}


def _replace(backend: BackendName, desired: Loaded, netns: str | None) -> Loaded:
    module = BACKENDS[backend]
    previous = read_loaded(backend, netns)
    try:
        for program in module.PROGRAMS:
            if desired[program] != previous[program]:
                script = module.script(desired[program], previous[program])
                run(module.load_command(program), netns, input=script)
    except ToolError as err:
        now = read_loaded(backend, netns)
        for program in module.PROGRAMS:
            if now[program] != previous[program]:
                script = module.script(previous[program], now[program])
                run(module.load_command(program), netns, input=script)
        raise ToolError(f"{backend} rules not loaded, the previous ones kept: {err}") from err
    return previous
