"""What brings a director back by itself after a reboot, under systemd (pure).

``cluster apply`` sets up the running system; these files make the next boot do the same
without the operator. Each is ours alone, so nothing the distribution or another tool owns is
edited:

- ``/etc/systemd/system/keepalived.service.d/lvs-cluster.conf``: a drop-in for the
  distribution's own ``keepalived.service``, with our options (``-P`` for VRRP only, our pid
  files) in place of ``/etc/default/keepalived``'s, which is a conffile that a keepalived
  upgrade would then ask about. It pulls in the VRRP event reader and orders keepalived
  after our firewall;
- ``lvs-cluster-vrrp-events.service``: the reader that stamps each line of keepalived's
  notify FIFO (:func:`cluster.keepalived.daemon.reader_loop`), which ``cluster status`` reads;
  its ``RuntimeDirectory`` makes ``/run/lvs-cluster`` at boot;
- ``/etc/modules-load.d/lvs-cluster.conf``: IPVS and the spec's schedulers, loaded at boot,
  as the 2007 article did with Gentoo's ``modules.autoload``;
- ``/etc/lvs-cluster/<program>.rules`` and ``lvs-cluster-firewall.service``: our own rules
  (the nftables table or the iptables chains, as ``cluster firewall render`` prints them),
  loaded early at boot by a oneshot unit, after any distribution service that replaces the
  whole rule set (``nftables.service``, ``netfilter-persistent.service``), which would
  otherwise wipe them.

``keepalived.service`` and ``lvs-cluster-firewall.service`` are enabled; the sysctls already
persist in ``/etc/sysctl.d`` (:mod:`cluster.sysctl`).

>>> from cluster.director.plan import Layout
>>> from cluster.firewall.rules import director_rules
>>> from cluster.keepalived.daemon import Files
>>> from cluster.spec import load_seed_spec
>>> spec = load_seed_spec()
>>> boot = systemd_boot(spec, "director01", Layout(), director_rules(spec, "director01"),
...                     "iptables", vrrp_only=False)
>>> print(boot.files["/etc/modules-load.d/lvs-cluster.conf"].splitlines()[-2:])
['ip_vs', 'ip_vs_rr']
>>> boot.options[:3], boot.options[-2:]
(('-D', '-f', '/etc/keepalived/keepalived.conf'), ('-c', '/run/lvs-cluster/checker.pid'))
>>> boot.enabled
('keepalived.service', 'lvs-cluster-firewall.service')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cluster.firewall import BACKENDS, BackendName
from cluster.firewall.rules import RuleSet
from cluster.ipvs.table import desired_table
from cluster.keepalived.daemon import options, reader_loop
from cluster.spec.model import ClusterSpec

if TYPE_CHECKING:  # plan.py imports this module
    from cluster.director.plan import Layout

KEEPALIVED = "keepalived.service"
EVENTS = "lvs-cluster-vrrp-events.service"
FIREWALL = "lvs-cluster-firewall.service"
#: the distribution services that load a whole rule set, flushing ours (ordered before ours)
FLUSHERS = ("nftables.service", "netfilter-persistent.service")


@dataclass(frozen=True)
class Boot:
    """The files and unit states that restore a director at boot; path -> text.

    ``service`` is what keepalived's unit reads when it (re)starts, so it is written before
    keepalived changes; ``files`` only matter at the next boot, so they are written last.
    ``options`` are keepalived's, as the drop-in gives them to the distribution's unit.
    """

    service: dict[str, str]
    files: dict[str, str]
    enabled: tuple[str, ...]
    options: tuple[str, ...]


def systemd_boot(
    spec: ClusterSpec,
    node: str,
    layout: Layout,
    rules: RuleSet,
    backend: BackendName,
    vrrp_only: bool,
) -> Boot:
    """Everything director ``node`` needs to come back under systemd, as the spec says."""
    files = layout.keepalived_files
    header = f"# {node} of cluster {spec.name}; written by `cluster apply`, which owns this file."
    opts = ("-D", *options(files, vrrp_only))
    service = {
        layout.unit(f"{KEEPALIVED}.d/lvs-cluster.conf"): _drop_in(header, opts),
        layout.unit(EVENTS): _events_unit(header, layout),
    }
    module = BACKENDS[backend]
    rule_files = {
        layout.firewall_file(program): module.script(text, "")
        for program, text in module.ours(rules).items()
    }
    boot = {
        layout.modules_load: _modules(header, spec),
        **rule_files,
        layout.unit(FIREWALL): _firewall_unit(header, backend, rule_files),
    }
    return Boot(service, boot, (KEEPALIVED, FIREWALL), opts)


def _drop_in(header: str, opts: tuple[str, ...]) -> str:
    return f"""{header}
# keepalived as the spec runs it, under the distribution's own unit.
[Unit]
# the VRRP event reader that `cluster status` reads, and our firewall, come first
Wants={EVENTS}
After={EVENTS} {FIREWALL}

[Service]
# these options replace /etc/default/keepalived's (a conffile of the package, left alone)
EnvironmentFile=
Environment="DAEMON_ARGS={" ".join(opts)}"
"""


def _events_unit(header: str, layout: Layout) -> str:
    files = layout.keepalived_files
    runtime = files.base.removeprefix("/run/")
    return f"""{header}
[Unit]
Description=keepalived's VRRP state changes, stamped to the microsecond (read by cluster status)
Before={KEEPALIVED}

[Service]
RuntimeDirectory={runtime}
RuntimeDirectoryPreserve=yes
ExecStartPre=-{_command(["mkfifo", "-m", "600", files.fifo])}
ExecStart={_command(["bash", "-c", reader_loop(files)])}
"""


def _firewall_unit(header: str, backend: BackendName, rule_files: dict[str, str]) -> str:
    module = BACKENDS[backend]
    pre, start = [], []
    for program, path in zip(module.PROGRAMS, rule_files, strict=True):
        # "-": a jump that is not there (as at boot) is no failure
        pre += [f"ExecStartPre=-{_command(argv)}" for argv in module.unhook_commands(program)]
        start.append(f"ExecStart={_command(module.load_file_command(program, path))}")
    commands = "\n".join(pre + start)
    return f"""{header}
[Unit]
Description=LVS director firewall: our own {backend} rules, and nothing else
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=local-fs.target systemd-modules-load.service {" ".join(FLUSHERS)}
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
{commands}

[Install]
WantedBy=sysinit.target
"""


def _modules(header: str, spec: ClusterSpec) -> str:
    schedulers = sorted({service.scheduler for service in desired_table(spec)})
    lines = [
        header,
        f"# IPVS, and the schedulers of the virtual services ({', '.join(schedulers)}):",
        "ip_vs",
        *(f"ip_vs_{name}" for name in schedulers),
    ]
    return "\n".join(lines) + "\n"


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@")


def _quote(word: str) -> str:
    """``word`` as one word of a unit file's command line: double-quoted, with systemd's own
    escapes (``$$`` and ``%%`` stop variable and specifier expansion, backslashes and quotes
    are C-escaped)."""
    if word and set(word) <= _PLAIN:
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return '"' + escaped.replace("%", "%%") + '"'


def _command(argv: list[str]) -> str:
    return " ".join(_quote(word) for word in argv)
