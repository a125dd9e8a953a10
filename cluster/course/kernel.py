"""Step 2: the director's kernel: IPVS, its schedulers, and the settings LVS-NAT needs.

What the director's kernel has is read on the target (``/proc``, ``/lib/modules``, ``sysctl``)
and judged here (pure), beside what the 2007 article loaded and set.

>>> table = module_table("6.1.176", ["ip_vs.ko", "ip_vs_rr.ko", "ip_vs_mh.ko.xz"],
...                      "ip_vs 162529 0 - Live 0x0\\nip_vs_rr 12288 1 - Live 0x0\\n")
>>> table.title
'IPVS modules of kernel 6.1.176: 3 on disk, 2 loaded'
>>> for row in table.rows[:4]:
...     print(row)
('ip_vs', 'the IPVS core', 'yes', 'yes', 'yes')
('ip_vs_mh', 'scheduler mh: Maglev hashing', '-', 'yes', '-')
('ip_vs_rr', 'scheduler rr: round robin', 'yes', 'yes', 'yes')
('ip_vs_wrr', 'scheduler wrr: weighted round robin', 'yes', '-', '-')
"""

from __future__ import annotations

from cluster.course import article
from cluster.course.target import Target
from cluster.spec.model import ClusterSpec
from cluster.sysctl import director_sysctls, parse_sysctls, render_sysctl_conf, why
from cluster.views import Block, Note, Shows, SpecTable

SCHEDULERS = {
    "rr": "round robin",
    "wrr": "weighted round robin",
    "lc": "least connections",
    "wlc": "weighted least connections",
    "lblc": "locality-based least connections",
    "lblcr": "locality-based least connections with replication",
    "dh": "destination hashing",
    "sh": "source hashing",
    "sed": "shortest expected delay",
    "nq": "never queue",
    "fo": "weighted failover",
    "ovf": "weighted overflow",
    "mh": "Maglev hashing",
    "twos": "weighted random twos choice",
}
HELPERS = {
    "ip_vs": "the IPVS core",
    "ip_vs_ftp": "helper: FTP's data connections",
    "ip_vs_pe_sip": "persistence engine: SIP Call-ID",
}
IPVS_MODULES = "kernel/net/netfilter/ipvs"


def _what(module: str) -> str:
    name = module.removeprefix("ip_vs_")
    if module in HELPERS:
        return HELPERS[module]
    return f"scheduler {name}: {SCHEDULERS[name]}" if name in SCHEDULERS else "-"


def module_table(release: str, files: list[str], proc_modules: str) -> SpecTable:
    """The IPVS modules on disk (file names under ``kernel/net/netfilter/ipvs``) and loaded
    (``/proc/modules``), with the article's list beside them."""
    on_disk = {f.split(".ko")[0] for f in files if ".ko" in f}
    loaded = {line.split()[0] for line in proc_modules.splitlines() if line.startswith("ip_vs")}
    names = sorted(on_disk | loaded, key=lambda m: (m != "ip_vs", m))
    names += [m for m in article.MODULES if m not in names]

    def yes(flag: bool) -> str:
        return "yes" if flag else "-"

    return SpecTable(
        f"IPVS modules of kernel {release}: {len(on_disk)} on disk, {len(loaded)} loaded",
        ("module", "what", "the article loads it", "on disk", "loaded"),
        [
            (m, _what(m), yes(m in article.MODULES), yes(m in on_disk), yes(m in loaded))
            for m in names
        ],
    )


def modules(target: Target) -> Shows:
    """What the target's kernel offers: its IPVS version line and its modules."""
    script = (
        f"uname -r; ls /lib/modules/$(uname -r)/{IPVS_MODULES} 2>/dev/null; echo --; "
        "cat /proc/modules; echo --; head -1 /proc/net/ip_vs 2>&1"
    )
    release, rest = target.run("sh", "-c", script).stdout.split("\n", 1)
    files, proc_modules, version = rest.split("--\n")
    ipvs = version.strip()
    note = (
        Note(f"{target.node}: {ipvs}", "ok")
        if ipvs.startswith("IP Virtual Server")
        else Note(f"{target.node}: no IPVS in this kernel: {ipvs}", "problem")
    )
    table = module_table(release.strip(), files.split(), proc_modules)
    return Shows((note, table))


def sysctl_table(spec: ClusterSpec, node: str, live: dict[str, str | None]) -> SpecTable:
    """Each setting the spec wants or the article set: both values, the live one, and why.

    >>> from cluster.spec import load_seed_spec
    >>> table = sysctl_table(load_seed_spec(), "director01", {"net.ipv4.ip_forward": "0"})
    >>> table.rows[0][:4]
    ('net.ipv4.ip_forward', '1', '1', '0 (to be set)')
    """
    wanted = director_sysctls(spec, node)
    keys = list(dict.fromkeys([*wanted, *article.SYSCTLS]))
    rows = []
    for key in keys:
        have = live.get(key)
        state = "-" if have is None else have
        if key in wanted and have != wanted[key]:
            state += " (to be set)"
        rows.append((key, article.SYSCTLS.get(key, "-"), wanted.get(key, "-"), state, why(key)))
    return SpecTable(
        f"{node}: kernel settings", ("setting", "the article", "the spec", "live", "why"), rows
    )


def sysctls(target: Target) -> Shows:
    """The settings, live on the target's director, and the sysctl.d file apply writes."""
    keys = list(dict.fromkeys([*director_sysctls(target.spec, target.node), *article.SYSCTLS]))
    live = parse_sysctls(target.run("sysctl", "-e", *keys).stdout, keys)
    path = f"{target.layout.sysctl_conf} (written by cluster apply)"
    conf = Block(path, render_sysctl_conf(target.spec, target.node))
    return Shows((sysctl_table(target.spec, target.node, live), conf))
