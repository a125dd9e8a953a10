"""The 2007 article's settings, as data: what the walk-through shows beside ours.

Facts taken from the article (its two keepalived.conf files are kept verbatim in
``tests/data/article/``); the notebooks set each of them beside what the spec renders, and
``docs/from-2007.md`` explains the differences.
"""

from __future__ import annotations

from pathlib import Path

from cluster.provenance import CHECKOUT

CONFIGS = CHECKOUT / "tests" / "data" / "article"

#: The modules the article loads at boot (/etc/modules.autoload.d/kernel-2.6).
MODULES = (
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_dh",
    "ip_vs_sh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_ftp",
)

#: The kernel settings it sets by hand and in /etc/sysctl.conf.
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
    "net.ipv4.conf.eth0.send_redirects": "0",
}

#: Its first load test: ``ab2 -c 30 -n 300`` from a machine in front of the directors.
LOAD_CONCURRENCY, LOAD_REQUESTS = 30, 300

#: What it checks on the master director, and on the real servers, when something fails.
DIRECTOR_CHECKLIST = (
    "route -n",
    "ip addr list",
    "ipvsadm",
    "tail /var/log/messages",
    "iptables logs",
)
REAL_SERVER_CHECKLIST = ("netstat -tan", "ip addr list", "route -n")

#: The log line it names as the symptom of directors that do not hear each other.
SYMPTOM = "Received lower prio advert, forcing new election"

#: director02's multicast rule as published: the shell reads ``$1`` in it as an empty
#: argument, so the rule admits 92.168.0.204, and director02 never hears director01.
PEER_RULE_TYPO = "-I INPUT -i eth0 -s $192.168.0.204 -d 224.0.0.0/4 -j ACCEPT"


def config(node: str) -> Path:
    """The article's keepalived.conf for ``node`` (director01 or director02)."""
    return CONFIGS / f"{node if node in ('director01', 'director02') else 'director01'}.conf"
