"""A director's firewall, rendered from the cluster spec: one rule model, two back-ends.

:mod:`~cluster.firewall.rules` decides what each director lets in, through and out;
:mod:`~cluster.firewall.nftables` and :mod:`~cluster.firewall.iptables` only spell it. Both
keep to rules of their own (a table, or chains jumped to from the built-in ones) and never
flush anything else; :mod:`~cluster.firewall.apply` loads, reads back, removes and reverts.

>>> from cluster.spec import load_seed_spec
>>> text = render(load_seed_spec(), "director02", "iptables")
>>> [line for line in text.splitlines() if line.startswith("# load")]
['# load with: iptables-restore --noflush', '# load with: ip6tables-restore --noflush']
>>> "udp" in text and "694" in text  # the 2007 article's heartbeat port for VRRP
False
"""

from __future__ import annotations

from typing import Literal, Protocol

from cluster.firewall import iptables, nftables
from cluster.firewall.rules import RuleSet, director_rules
from cluster.spec.model import ClusterSpec

BackendName = Literal["nftables", "iptables"]


class Backend(Protocol):
    """What a back-end module offers: pure text in, pure text out, per loader program.

    ``ours`` is the rule set as the program lists it once loaded; ``listed`` finds ours in a
    full listing; ``script`` turns our current rules into the desired ones ("" means none).
    ``load_file_command`` and ``unhook_commands`` load a saved script at boot.
    """

    PROGRAMS: tuple[str, ...]

    def ours(self, ruleset: RuleSet) -> dict[str, str]: ...
    def list_command(self, program: str) -> list[str]: ...
    def listed(self, program: str, listing: str) -> str: ...
    def load_command(self, program: str) -> list[str]: ...
    def load_file_command(self, program: str, path: str) -> list[str]: ...
    def unhook_commands(self, program: str) -> list[list[str]]: ...
    def script(self, desired: str, current: str) -> str: ...


BACKENDS: dict[BackendName, Backend] = {"nftables": nftables, "iptables": iptables}  # type: ignore[dict-item]


def render(spec: ClusterSpec, node: str, backend: BackendName) -> str:
    """What would be loaded on a director with no rules of ours yet, one section per program."""
    module = BACKENDS[backend]
    return "\n".join(
        f"# load with: {' '.join(module.load_command(program))}\n{module.script(text, '')}"
        for program, text in module.ours(director_rules(spec, node)).items()
    )
