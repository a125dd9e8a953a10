"""The keyword tree of keepalived 2.2.7, as Debian 12 builds it.

keepalived decides what a line means from where it stands: ``weight`` is one thing in a
``real_server`` and another in a ``vrrp_script``, and the same word is an "Unknown keyword" one
level up. The parser and the linter therefore need the whole tree, not a flat word list.

Source: keepalived 2.2.7 (Debian source package 1:2.2.7-1, upstream tarball), built with
Debian's configure options plus ``--enable-dump-keywords`` and run with ``--debug=K``, which
makes every keepalived process write the tree it installed with ``install_keyword_root``,
``install_keyword`` and ``install_sublevel``. The list blocks (``LIST``) are the handlers that
call ``alloc_value_block``/``read_value_block`` in vrrp_parser.c, check_parser.c and
global_parser.c; the deprecations are the warnings those handlers print. Keywords that Debian's
build leaves out (``iptables`` support, for instance) are absent here as they are from the
binary.

>>> GRAMMAR[TOP]["vrrp_instance"]
'vrrp_instance'
>>> GRAMMAR["vrrp_instance"]["virtual_ipaddress"] == LIST
True
>>> DEPRECATED[("HTTP_GET", "nb_get_retry")]
'retry'
"""

from __future__ import annotations

from typing import Final

from cluster.keepalived.values import (
    IFNAMSIZ,
    INT_MAX,
    INT_MIN,
    UINT_MAX,
    Address,
    Args,
    Choice,
    Digest,
    Each,
    Either,
    ExtraInterval,
    Flag,
    Forwarding,
    Granularity,
    GroupEntry,
    Host,
    Ipvlan,
    Kind,
    Number,
    Optional,
    Options,
    Peer,
    Reported,
    Route,
    Rule,
    Seconds,
    StatusCodes,
    SyncDaemon,
    Umask,
    Vip,
    Vmac,
    Weighted,
    Word,
)

TOP: Final = "<top>"
"""Name of the top level of a configuration file in :data:`GRAMMAR`."""

VALUE: Final = "value"
"""A keyword followed by its arguments on the same line."""

LIST: Final = "list"
"""A ``{ ... }`` block of free-form lines (addresses, names, routes) rather than keywords.

keepalived reads such a block line by line up to the first ``}``, so nothing in it is checked
against this table and a nested ``{`` does not nest.
"""

TASK_COMM_LEN: Final = 16
"""The kernel's process name size: keepalived cuts process names to 15 characters."""

LVS_MAX_TIMEOUT: Final = 86400 * 31
"""keepalived's longest IPVS timeout: 31 days."""

LVS_SCHEDULERS: Final = (
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"
)  # fmt: skip
"""The schedulers keepalived's check_parser.c accepts for lvs_sched."""

DNS_TYPES: Final = ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY")
"""The record types a DNS_CHECK can ask for."""

# Options every network checker (TCP_CHECK, HTTP_GET, ...) shares: where to connect and how
# often to retry, from check_api.c's install_checker_common_keywords().
_RETRY = {"retry", "delay_before_retry", "warmup", "delay_loop", "alpha", "log_all_failures"}
_CONNECT = {
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "bind_if",
    "connect_timeout",
    "fwmark",
} | _RETRY
_HTTP = _CONNECT | {"nb_get_retry", "virtualhost", "http_protocol", "enable_sni", "fast_recovery"}
_TRACKERS = {"track_interface", "track_script", "track_file", "track_process", "track_bfd"}
_NOTIFY = {"notify_backup", "notify_master", "notify_fault", "notify_stop", "notify", "smtp_alert"}


def _block(values: set[str], lists: set[str] = frozenset(), **blocks: str) -> dict[str, str]:
    """One block's keywords: plain ones, list blocks, and keyword -> sub-block name."""
    return {kw: VALUE for kw in values} | {kw: LIST for kw in lists} | blocks


GRAMMAR: Final[dict[str, dict[str, str]]] = {
    TOP: _block(
        {
            "linkbeat_use_polling",
            "net_namespace",
            "net_namespace_ipvs",
            "namespace_with_ipsets",
            "use_pid_dir",
            "instance",
            "child_wait_time",
        },
        {
            "static_ipaddress",
            "static_routes",
            "static_rules",
            "linkbeat_interfaces",
            "interface_up_down_delays",
            "virtual_server_group",
        },
        global_defs="global_defs",
        track_group="track_group",
        vrrp_sync_group="vrrp_sync_group",
        garp_group="garp_group",
        vrrp_instance="vrrp_instance",
        vrrp_script="vrrp_script",
        vrrp_track_process="vrrp_track_process",
        SSL="SSL",
        virtual_server="virtual_server",
        bfd_instance="bfd_instance",
        track_file="track_file",
        vrrp_track_file="track_file",
    ),
    "global_defs": _block(
        {
            "process_names",
            "process_name",
            "vrrp_process_name",
            "checker_process_name",
            "lvs_process_name",
            "bfd_process_name",
            "router_id",
            "notification_email_from",
            "smtp_server",
            "smtp_helo_name",
            "smtp_connect_timeout",
            "smtp_alert",
            "startup_script",
            "startup_script_timeout",
            "shutdown_script",
            "shutdown_script_timeout",
            "max_auto_priority",
            "min_auto_priority_delay",
            "smtp_alert_vrrp",
            "smtp_alert_checker",
            "checker_log_all_failures",
            "dynamic_interfaces",
            "no_email_faults",
            "default_interface",
            "disable_local_igmp",
            "lvs_timeouts",
            "lvs_flush",
            "lvs_flush_on_stop",
            "lvs_flush_onstop",
            "lvs_sync_daemon",
            "vrrp_mcast_group4",
            "vrrp_mcast_group6",
            "vrrp_garp_master_delay",
            "vrrp_garp_master_repeat",
            "vrrp_garp_master_refresh",
            "vrrp_garp_master_refresh_repeat",
            "vrrp_garp_lower_prio_delay",
            "vrrp_garp_lower_prio_repeat",
            "vrrp_down_timer_adverts",
            "vrrp_garp_interval",
            "vrrp_gna_interval",
            "vrrp_min_garp",
            "vrrp_garp_extra_if",
            "vrrp_vmac_garp_intvl",
            "vrrp_lower_prio_no_advert",
            "vrrp_higher_prio_send_advert",
            "vrrp_version",
            "vrrp_iptables",
            "nftables",
            "nftables_priority",
            "nftables_ifindex",
            "nftables_ipvs",
            "nftables_ipvs_priority",
            "nftables_ipvs_start_fwmark",
            "nftables_counters",
            "vrrp_check_unicast_src",
            "vrrp_skip_check_adv_addr",
            "vrrp_strict",
            "notify_fifo",
            "notify_fifo_script",
            "vrrp_notify_fifo",
            "vrrp_notify_fifo_script",
            "vrrp_notify_priority_changes",
            "fifo_write_vrrp_states_on_reload",
            "lvs_notify_fifo",
            "lvs_notify_fifo_script",
            "snmp_socket",
            "enable_traps",
            "enable_snmp_vrrp",
            "enable_snmp_keepalived",
            "enable_snmp_rfc",
            "enable_snmp_rfcv2",
            "enable_snmp_rfcv3",
            "enable_snmp_checker",
            "enable_dbus",
            "dbus_service_name",
            "script_user",
            "enable_script_security",
            "process_monitor_rcv_bufs",
            "process_monitor_rcv_bufs_force",
            "rs_init_notifies",
            "no_checker_emails",
            "vrrp_rx_bufs_policy",
            "vrrp_rx_bufs_multiplier",
            "vrrp_startup_delay",
            "log_unknown_vrids",
            "vmac_prefix",
            "vmac_addr_prefix",
            "umask",
            "random_seed",
            "reload_check_config",
            "reload_time_file",
            "reload_repeat",
            "reload_file",
            "include_check",
            "config_save_dir",
            "tmp_config_directory",
            "data_use_instance",
        }
        # Each of the vrrp, checker and bfd processes has the same scheduling options.
        | {
            f"{process}_{option}"
            for process in ("vrrp", "checker", "bfd")
            for option in (
                "priority",
                "no_swap",
                "rt_priority",
                "cpu_affinity",
                "rlimit_rttime",
                "rlimit_rtime",
            )
        }
        | {
            f"{process}_netlink_{kind}_rcv_bufs{force}"
            for process in ("vrrp", "lvs")
            for kind in ("cmd", "monitor")
            for force in ("", "_force")
        },
        {"notification_email"},
    ),
    "track_group": _block(set(), {"group"}),
    "vrrp_sync_group": _block(
        _NOTIFY | {"global_tracking", "sync_group_tracking_weight", "notify_priority_changes"},
        {"group"} | _TRACKERS,
    ),
    "garp_group": _block({"garp_interval", "gna_interval", "interface"}, {"interfaces"}),
    "vrrp_instance": _block(
        _NOTIFY
        | {
            "use_vmac",
            "use_vmac_addr",
            "vmac_xmit_base",
            "use_ipvlan",
            "unicast_fault_no_peer",
            "check_unicast_src",
            "old_unicast_checksum",
            "native_ipv6",
            "state",
            "interface",
            "vrf",
            "dont_track_primary",
            "mcast_src_ip",
            "unicast_src_ip",
            "mcast_dst_ip",
            "track_src_ip",
            "virtual_router_id",
            "unicast_ttl",
            "version",
            "priority",
            "advert_int",
            "promote_secondaries",
            "linkbeat_use_polling",
            "accept",
            "no_accept",
            "skip_check_adv_addr",
            "strict_mode",
            "preempt",
            "nopreempt",
            "preempt_delay",
            "debug",
            "notify_deleted",
            "notify_master_rx_lower_pri",
            "notify_priority_changes",
            "lvs_sync_daemon_interface",
            "garp_master_delay",
            "garp_master_refresh",
            "garp_master_repeat",
            "garp_master_refresh_repeat",
            "garp_lower_prio_delay",
            "garp_lower_prio_repeat",
            "down_timer_adverts",
            "garp_extra_if",
            "vmac_garp_intvl",
            "lower_prio_no_advert",
            "higher_prio_send_advert",
            "kernel_rx_buf_size",
        },
        {
            "unicast_peer",
            "virtual_ipaddress",
            "virtual_ipaddress_excluded",
            "virtual_routes",
            "virtual_rules",
        }
        | _TRACKERS,
        authentication="authentication",
    ),
    "authentication": _block({"auth_type", "auth_pass"}),
    "vrrp_script": _block(
        {"script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"}
    ),
    "vrrp_track_process": _block(
        {
            "process",
            "param_match",
            "weight",
            "quorum",
            "quorum_max",
            "delay",
            "terminate_delay",
            "fork_delay",
            "full_command",
        }
    ),
    "track_file": _block({"file", "weight", "init_file"}),
    "SSL": _block({"password", "ca", "certificate", "key"}),
    "virtual_server": _block(
        _RETRY - {"log_all_failures"}
        | {
            "ip_family",
            "connect_timeout",
            "inhibit_on_failure",
            "lb_algo",
            "lvs_sched",
            "hashed",
            "ops",
            "flag-1",
            "flag-2",
            "flag-3",
            "sh-port",
            "sh-fallback",
            "mh-port",
            "mh-fallback",
            "lb_kind",
            "lvs_method",
            "persistence_engine",
            "persistence_timeout",
            "persistence_granularity",
            "protocol",
            "ha_suspend",
            "smtp_alert",
            "virtualhost",
            "snmp_name",
            "omega",
            "quorum_up",
            "quorum_down",
            "quorum",
            "hysteresis",
            "weight",
            "sorry_server",
            "sorry_server_inhibit",
            "sorry_server_lvs_method",
        },
        real_server="real_server",
    ),
    "real_server": _block(
        _RETRY - {"log_all_failures"}
        | {
            "weight",
            "lvs_method",
            "uthreshold",
            "lthreshold",
            "inhibit_on_failure",
            "notify_up",
            "notify_down",
            "connect_timeout",
            "smtp_alert",
            "virtualhost",
            "snmp_name",
        },
        MISC_CHECK="MISC_CHECK",
        SMTP_CHECK="SMTP_CHECK",
        TCP_CHECK="TCP_CHECK",
        PING_CHECK="PING_CHECK",
        UDP_CHECK="UDP_CHECK",
        HTTP_GET="HTTP_GET",
        SSL_GET="SSL_GET",
        DNS_CHECK="DNS_CHECK",
        FILE_CHECK="FILE_CHECK",
        BFD_CHECK="BFD_CHECK",
    ),
    "MISC_CHECK": _block(_RETRY | {"misc_path", "misc_timeout", "misc_dynamic", "user"}),
    "SMTP_CHECK": _block(_CONNECT | {"helo_name"}, host="SMTP_CHECK host"),
    "SMTP_CHECK host": _block(_CONNECT),
    "TCP_CHECK": _block(_CONNECT),
    "PING_CHECK": _block(_CONNECT),
    "UDP_CHECK": _block(
        _CONNECT | {"payload", "require_reply", "min_reply_length", "max_reply_length"}
    ),
    "HTTP_GET": _block(_HTTP, url="url"),
    "SSL_GET": _block(_HTTP, url="url"),
    "url": _block(
        {
            "path",
            "digest",
            "status_code",
            "virtualhost",
            "regex",
            "regex_no_match",
            "regex_options",
            "regex_min_offset",
            "regex_max_offset",
            "regex_stack",
        }
    ),
    "DNS_CHECK": _block(_CONNECT | {"type", "name"}),
    "FILE_CHECK": _block({"track_file", "weight"}),
    "BFD_CHECK": _block({"name", "alpha"}),
    "bfd_instance": _block(
        {
            "source_ip",
            "neighbor_ip",
            "neighbour_ip",
            "min_rx",
            "min_tx",
            "idle_tx",
            "multiplier",
            "passive",
            "ttl",
            "hoplimit",
            "max_hops",
            "weight",
            "vrrp",
            "checker",
        }
    ),
}
"""Block name -> {keyword: VALUE, LIST, or the name of the block the keyword opens}."""

CHECKERS: Final = frozenset(GRAMMAR["real_server"]) - frozenset(GRAMMAR["virtual_server"])
"""The health checkers a real_server can have (everything in it that opens a block)."""

DEPRECATED: Final[dict[tuple[str, str], str]] = {
    # (block, keyword) -> what to write instead; keepalived 2.2.7 -t warns about each of these.
    ("HTTP_GET", "nb_get_retry"): "retry",
    ("SSL_GET", "nb_get_retry"): "retry",
    ("global_defs", "vrrp_vmac_garp_intvl"): "vrrp_garp_extra_if",
    ("vrrp_instance", "vmac_garp_intvl"): "garp_extra_if",
    ("vrrp_instance", "lvs_sync_daemon_interface"): "lvs_sync_daemon in global_defs",
    ("vrrp_instance", "linkbeat_use_polling"): "a top-level linkbeat_interfaces block",
    ("vrrp_sync_group", "global_tracking"): "track_interface/track_script/track_file on the group",
    ("SMTP_CHECK", "host"): "one SMTP_CHECK block per host",
}

LEGACY_NAMES: Final[dict[str, str]] = {
    # Old names 2.2.7 still accepts without a word in -t: renamed in 2004 (ChangeLog 1.1.5),
    # or deprecated in its source with at most a log line when it runs.
    "lb_algo": "lvs_sched",
    "lb_kind": "lvs_method",
    "lvs_process_name": "checker_process_name",
    "lvs_flush_onstop": "lvs_flush_on_stop",
    "vrrp_rlimit_rtime": "vrrp_rlimit_rttime",
    "checker_rlimit_rtime": "checker_rlimit_rttime",
    "bfd_rlimit_rtime": "bfd_rlimit_rttime",
    "enable_snmp_keepalived": "enable_snmp_vrrp",
    "vrrp_track_file": "track_file",
}

REMOVED: Final[dict[str, str]] = {
    # keyword -> why it is gone; keepalived 2.2.7 reports each as an unknown keyword.
    "nat_mask": (
        "nat_mask only ever applied to Linux 2.2 kernels and was removed in keepalived 1.2.20 "
        "(2016); LVS-NAT needs no mask"
    ),
    "lvs_id": "lvs_id was renamed router_id in keepalived 1.1.8 (2005); 2.2.7 no longer accepts it",
}


# --- values: what each keyword's arguments may be --------------------------------------------

_NAME = Word(max_len=TASK_COMM_LEN - 1, effect="keepalived cuts it to 15 characters")
_INTERFACE = Word(max_len=IFNAMSIZ - 1)
_SCRIPT = Word()
_SECONDS_4294 = Number(0, UINT_MAX // 10**6)
_AT_LEAST_ONCE = Number(1, UINT_MAX, effect="keepalived ignores the line, or uses 1 for 0")
_REPEATS = Number(0, INT_MAX)
_PROCESS_PRIORITY = Number(-20, 19, signed=True, effect="keepalived keeps the default")
_RT_PRIORITY = Number(1, 99, signed=True, effect="keepalived uses the nearest of 1 and 99")
_CPUS = Each(Number(0, INT_MAX, signed=True), effect="keepalived does not pin the process")
_RCV_BUFS = Number(0, UINT_MAX)
_TIMER = Seconds(effect="keepalived keeps the default")
_TIMER_POSITIVE = Seconds("0.000001", effect="keepalived keeps the default")
_CONNECT_TIMEOUT = Seconds("0.000001", "4294.967295", effect="keepalived keeps the default")
_RETRY = Number(1, UINT_MAX)
_PORT = Number(1, 65535)
_TRACK_WEIGHT = Args(Number(-253, 253, signed=True), Choice("reverse"))

_PROCESS_OPTIONS: dict[str, Kind] = {
    "priority": _PROCESS_PRIORITY,
    "no_swap": Kind(),
    "rt_priority": _RT_PRIORITY,
    "cpu_affinity": _CPUS,
    "rlimit_rttime": Number(1, UINT_MAX),
    "rlimit_rtime": Number(1, UINT_MAX),
}

_CHECKER_COMMON: dict[str, Kind] = {
    "retry": Number(0, UINT_MAX),
    "delay_before_retry": _TIMER,
    "warmup": _TIMER,
    "delay_loop": _TIMER_POSITIVE,
    "alpha": Flag(),
    "log_all_failures": Flag(),
    "connect_ip": Address(),
    "connect_port": _PORT,
    "bindto": Address(),
    "bind_port": _PORT,
    "bind_if": _INTERFACE,
    "connect_timeout": _CONNECT_TIMEOUT,
    "fwmark": Number(0, UINT_MAX),
}
_HTTP_CHECK: dict[str, Kind] = {
    "nb_get_retry": Number(0, UINT_MAX),
    "virtualhost": Word(),
    "http_protocol": Choice("1.0", "1.1", "1.0C", "1.0c"),
    "enable_sni": Flag(),
    "fast_recovery": Flag(),
}

VALUES: Final[dict[tuple[str, str], Kind]] = {
    (TOP, "net_namespace"): Word(),
    (TOP, "net_namespace_ipvs"): Optional(Word()),
    (TOP, "instance"): Word(),
    (TOP, "child_wait_time"): Number(0, UINT_MAX),
    (TOP, "track_group"): Word(),
    (TOP, "vrrp_sync_group"): Word(effect="keepalived skips the block"),
    (TOP, "vrrp_instance"): Word(effect="keepalived skips the block"),
    (TOP, "vrrp_script"): Word(),
    (TOP, "vrrp_track_process"): Word(),
    (TOP, "track_file"): Word(),
    (TOP, "vrrp_track_file"): Word(),
    (TOP, "bfd_instance"): Word(max_len=31),
    (TOP, "virtual_server_group"): Word(),
    **{("global_defs", k): _NAME for k in (
        "process_name", "vrrp_process_name", "checker_process_name", "lvs_process_name",
        "bfd_process_name")},
    ("global_defs", "router_id"): Word(),
    ("global_defs", "notification_email_from"): Word(),
    ("global_defs", "smtp_server"): Host(effect="keepalived sends no mail"),
    ("global_defs", "smtp_helo_name"): Optional(Word()),
    ("global_defs", "smtp_connect_timeout"): Number(1, UINT_MAX // 10**6,
                                                   effect="keepalived ignores it, or uses 1 for 0"),
    ("global_defs", "smtp_alert"): Flag(),
    ("global_defs", "startup_script"): _SCRIPT,
    ("global_defs", "startup_script_timeout"): Number(1, 1000),
    ("global_defs", "shutdown_script"): _SCRIPT,
    ("global_defs", "shutdown_script_timeout"): Number(1, 1000),
    ("global_defs", "max_auto_priority"): Optional(Number(-1, 99, signed=True)),
    ("global_defs", "min_auto_priority_delay"): Number(1, 10_000_000, signed=True),
    ("global_defs", "smtp_alert_vrrp"): Flag(),
    ("global_defs", "smtp_alert_checker"): Flag(),
    ("global_defs", "checker_log_all_failures"): Flag(),
    ("global_defs", "dynamic_interfaces"): Optional(Choice("allow_if_changes")),
    ("global_defs", "default_interface"): Word(),
    ("global_defs", "lvs_timeouts"): Options(
        options={name: Number(0, LVS_MAX_TIMEOUT) for name in ("tcp", "tcpfin", "udp")},
        required=True,
    ),
    ("global_defs", "lvs_flush_on_stop"): Optional(Choice("VS")),
    ("global_defs", "lvs_flush_onstop"): Optional(Choice("VS")),
    ("global_defs", "lvs_sync_daemon"): SyncDaemon(effect="keepalived does not sync connections"),
    ("global_defs", "vrrp_mcast_group4"): Address(family=4, multicast=True),
    ("global_defs", "vrrp_mcast_group6"): Address(family=6, multicast=True),
    ("global_defs", "vrrp_garp_master_delay"): _SECONDS_4294,
    ("global_defs", "vrrp_garp_master_repeat"): _AT_LEAST_ONCE,
    ("global_defs", "vrrp_garp_master_refresh"): Number(0, UINT_MAX),
    ("global_defs", "vrrp_garp_master_refresh_repeat"): _AT_LEAST_ONCE,
    ("global_defs", "vrrp_garp_lower_prio_delay"): _SECONDS_4294,
    ("global_defs", "vrrp_garp_lower_prio_repeat"): _REPEATS,
    ("global_defs", "vrrp_down_timer_adverts"): Number(1, 100),
    ("global_defs", "vrrp_garp_interval"): Seconds("0.000001", "4294.967295"),
    ("global_defs", "vrrp_gna_interval"): Seconds("0.000001", "4294.967295"),
    ("global_defs", "vrrp_min_garp"): Flag(),
    ("global_defs", "vrrp_garp_extra_if"): ExtraInterval(low=1),
    ("global_defs", "vrrp_vmac_garp_intvl"): ExtraInterval(low=1),
    ("global_defs", "vrrp_lower_prio_no_advert"): Flag(),
    ("global_defs", "vrrp_higher_prio_send_advert"): Flag(),
    ("global_defs", "vrrp_version"): Number(2, 3, signed=True),
    ("global_defs", "vrrp_iptables"): Reported(
        reason="this keepalived has no iptables support; it uses nftables instead",
        effect="keepalived sets up nftables",
        fix="write nftables instead of vrrp_iptables",
    ),
    ("global_defs", "nftables"): Optional(Word(max_len=255)),
    ("global_defs", "nftables_priority"): Number(INT_MIN, INT_MAX, signed=True),
    ("global_defs", "nftables_ipvs"): Optional(Word(max_len=255)),
    ("global_defs", "nftables_ipvs_priority"): Number(INT_MIN, INT_MAX, signed=True),
    ("global_defs", "nftables_ipvs_start_fwmark"): Number(1, UINT_MAX),
    **{
        ("global_defs", f"{process}_{option}"): kind
        for process in ("vrrp", "checker", "bfd")
        for option, kind in _PROCESS_OPTIONS.items()
    },
    ("global_defs", "notify_fifo"): Args(Word(), Word(), Word()),
    ("global_defs", "notify_fifo_script"): _SCRIPT,
    ("global_defs", "vrrp_notify_fifo"): Args(Word(), Word(), Word()),
    ("global_defs", "vrrp_notify_fifo_script"): _SCRIPT,
    ("global_defs", "vrrp_notify_priority_changes"): Flag(),
    ("global_defs", "lvs_notify_fifo"): Args(Word(), Word(), Word()),
    ("global_defs", "lvs_notify_fifo_script"): _SCRIPT,
    ("global_defs", "snmp_socket"): Word(),
    ("global_defs", "dbus_service_name"): Word(),
    ("global_defs", "script_user"): Args(Word(), Word()),
    **{
        ("global_defs", f"{process}_netlink_{kind}_rcv_bufs"): _RCV_BUFS
        for process in ("vrrp", "lvs")
        for kind in ("cmd", "monitor")
    },
    **{
        ("global_defs", f"{process}_netlink_{kind}_rcv_bufs_force"): Flag()
        for process in ("vrrp", "lvs")
        for kind in ("cmd", "monitor")
    },
    ("global_defs", "process_monitor_rcv_bufs"): _RCV_BUFS,
    ("global_defs", "process_monitor_rcv_bufs_force"): Flag(),
    ("global_defs", "rs_init_notifies"): Flag(),
    ("global_defs", "no_checker_emails"): Flag(),
    ("global_defs", "vrrp_rx_bufs_policy"): Each(
        Either(Choice("MTU", "ADVERT", ignore_case=True), Number(0, UINT_MAX))
    ),
    ("global_defs", "vrrp_rx_bufs_multiplier"): Number(1, UINT_MAX),
    ("global_defs", "vrrp_startup_delay"): Seconds("0.001", "4294.967295"),
    ("global_defs", "vmac_prefix"): Word(),
    ("global_defs", "vmac_addr_prefix"): Word(),
    ("global_defs", "umask"): Umask(),
    ("global_defs", "random_seed"): Number(0, UINT_MAX),
    ("global_defs", "reload_check_config"): Optional(Word()),
    ("global_defs", "reload_time_file"): Word(),
    ("global_defs", "reload_file"): Optional(Word()),
    ("global_defs", "config_save_dir"): Word(),
    ("global_defs", "tmp_config_directory"): Word(),
    ("global_defs", "data_use_instance"): Flag(),
    **{("vrrp_sync_group", k): _SCRIPT for k in _NOTIFY - {"smtp_alert"}},
    ("vrrp_sync_group", "smtp_alert"): Flag(),
    ("vrrp_sync_group", "notify_priority_changes"): Flag(),
    ("garp_group", "garp_interval"): Seconds("0", "2147.483647"),
    ("garp_group", "gna_interval"): Seconds("0", "2147.483647"),
    ("garp_group", "interface"): _INTERFACE,
    ("vrrp_instance", "old_unicast_checksum"): Optional(Choice("never")),
    ("vrrp_instance", "use_vmac"): Vmac(),
    ("vrrp_instance", "use_ipvlan"): Ipvlan(),
    ("vrrp_instance", "state"): Choice(
        "MASTER", "BACKUP", effect="keepalived starts the instance as BACKUP"
    ),
    ("vrrp_instance", "interface"): _INTERFACE,
    ("vrrp_instance", "vrf"): _INTERFACE,
    ("vrrp_instance", "mcast_src_ip"): Address(),
    ("vrrp_instance", "unicast_src_ip"): Address(),
    ("vrrp_instance", "mcast_dst_ip"): Address(multicast=True),
    ("vrrp_instance", "virtual_router_id"): Number(
        1, 255, effect="the instance has no virtual_router_id, so keepalived drops it"
    ),
    ("vrrp_instance", "unicast_ttl"): Number(0, 255),
    ("vrrp_instance", "version"): Number(2, 3, signed=True),
    ("vrrp_instance", "priority"): Number(1, 255, effect="keepalived uses priority 100"),
    ("vrrp_instance", "advert_int"): Seconds(
        "0.01", "255", effect="keepalived advertises every 1 s"
    ),
    ("vrrp_instance", "skip_check_adv_addr"): Flag(),
    ("vrrp_instance", "strict_mode"): Flag(),
    ("vrrp_instance", "preempt_delay"): Seconds("0", "1000", effect="keepalived uses no delay"),
    ("vrrp_instance", "debug"): Number(0, 4),
    **{("vrrp_instance", k): _SCRIPT for k in _NOTIFY - {"smtp_alert"}},
    ("vrrp_instance", "notify_deleted"): Optional(Word()),
    ("vrrp_instance", "notify_master_rx_lower_pri"): _SCRIPT,
    ("vrrp_instance", "smtp_alert"): Flag(),
    ("vrrp_instance", "notify_priority_changes"): Flag(),
    ("vrrp_instance", "lvs_sync_daemon_interface"): _INTERFACE,
    ("vrrp_instance", "garp_master_delay"): _SECONDS_4294,
    ("vrrp_instance", "garp_master_refresh"): Number(0, UINT_MAX),
    ("vrrp_instance", "garp_master_repeat"): _AT_LEAST_ONCE,
    ("vrrp_instance", "garp_master_refresh_repeat"): _AT_LEAST_ONCE,
    ("vrrp_instance", "garp_lower_prio_delay"): _SECONDS_4294,
    ("vrrp_instance", "garp_lower_prio_repeat"): _REPEATS,
    ("vrrp_instance", "down_timer_adverts"): Number(1, 100),
    ("vrrp_instance", "garp_extra_if"): ExtraInterval(),
    ("vrrp_instance", "vmac_garp_intvl"): ExtraInterval(),
    ("vrrp_instance", "lower_prio_no_advert"): Flag(),
    ("vrrp_instance", "higher_prio_send_advert"): Flag(),
    ("vrrp_instance", "kernel_rx_buf_size"): Number(0, UINT_MAX),
    ("authentication", "auth_type"): Choice("PASS", "AH"),
    ("authentication", "auth_pass"): Word(
        max_len=8, effect="keepalived cuts it to 8 characters", fix="use at most 8 characters"
    ),
    ("vrrp_script", "interval"): Number(1, UINT_MAX // 10**6,
                                        effect="keepalived ignores it, or uses 1 for 0"),
    ("vrrp_script", "timeout"): Number(1, UINT_MAX // 10**6,
                                       effect="keepalived ignores it, or uses 1 for 0"),
    ("vrrp_script", "weight"): _TRACK_WEIGHT,
    ("vrrp_script", "rise"): Number(1, INT_MAX, effect="keepalived uses 1"),
    ("vrrp_script", "fall"): Number(1, INT_MAX, effect="keepalived uses 1"),
    ("vrrp_script", "user"): Args(Word(), Word()),
    ("vrrp_track_process", "process"): Word(),
    ("vrrp_track_process", "param_match"): Optional(Choice("initial", "partial")),
    ("vrrp_track_process", "weight"): Args(Number(-254, 254, signed=True), Choice("reverse")),
    ("vrrp_track_process", "quorum"): Number(1, 65535),
    ("vrrp_track_process", "quorum_max"): Number(0, 65535),
    **{("vrrp_track_process", k): Seconds("0.000001", "3600")
       for k in ("delay", "terminate_delay", "fork_delay")},
    ("track_file", "weight"): Args(Number(-254, 254, signed=True), Choice("reverse")),
    **{("SSL", k): Word() for k in ("password", "ca", "certificate", "key")},
    ("virtual_server", "ip_family"): Choice("inet", "inet6"),
    ("virtual_server", "retry"): _RETRY,
    ("virtual_server", "delay_before_retry"): _TIMER,
    ("virtual_server", "warmup"): _TIMER,
    ("virtual_server", "connect_timeout"): _CONNECT_TIMEOUT,
    ("virtual_server", "delay_loop"): _TIMER_POSITIVE,
    ("virtual_server", "lb_algo"): Choice(*LVS_SCHEDULERS, effect="keepalived uses wlc"),
    ("virtual_server", "lvs_sched"): Choice(*LVS_SCHEDULERS, effect="keepalived uses wlc"),
    ("virtual_server", "lb_kind"): Forwarding(effect="keepalived uses NAT"),
    ("virtual_server", "lvs_method"): Forwarding(effect="keepalived uses NAT"),
    ("virtual_server", "persistence_engine"): Word(),
    ("virtual_server", "persistence_timeout"): Optional(Number(1, LVS_MAX_TIMEOUT)),
    ("virtual_server", "persistence_granularity"): Granularity(),
    ("virtual_server", "protocol"): Choice(
        "TCP", "UDP", "SCTP", ignore_case=True, effect="keepalived uses UDP"
    ),
    ("virtual_server", "smtp_alert"): Flag(),
    ("virtual_server", "virtualhost"): Word(),
    ("virtual_server", "snmp_name"): Word(),
    ("virtual_server", "quorum_up"): _SCRIPT,
    ("virtual_server", "quorum_down"): _SCRIPT,
    ("virtual_server", "quorum"): Number(1, UINT_MAX, effect="keepalived uses 1"),
    ("virtual_server", "hysteresis"): Number(0, UINT_MAX),
    ("virtual_server", "weight"): Number(1, INT_MAX),
    ("virtual_server", "sorry_server_lvs_method"): Forwarding(),
    ("real_server", "weight"): Number(0, INT_MAX),
    ("real_server", "lvs_method"): Forwarding(effect="keepalived uses the virtual server's"),
    ("real_server", "uthreshold"): Number(0, UINT_MAX),
    ("real_server", "lthreshold"): Number(0, UINT_MAX),
    ("real_server", "inhibit_on_failure"): Flag(),
    ("real_server", "notify_up"): _SCRIPT,
    ("real_server", "notify_down"): _SCRIPT,
    ("real_server", "alpha"): Flag(),
    ("real_server", "retry"): _RETRY,
    ("real_server", "delay_before_retry"): _TIMER,
    ("real_server", "warmup"): _TIMER,
    ("real_server", "connect_timeout"): _CONNECT_TIMEOUT,
    ("real_server", "delay_loop"): _TIMER_POSITIVE,
    ("real_server", "smtp_alert"): Flag(),
    ("real_server", "virtualhost"): Word(),
    ("real_server", "snmp_name"): Word(),
    **{
        (checker, keyword): kind
        for checker in ("MISC_CHECK", "SMTP_CHECK", "SMTP_CHECK host", "TCP_CHECK",
                        "PING_CHECK", "UDP_CHECK", "HTTP_GET", "SSL_GET", "DNS_CHECK")
        for keyword, kind in _CHECKER_COMMON.items()
        if keyword in GRAMMAR[checker]
    },
    **{(checker, k): kind for checker in ("HTTP_GET", "SSL_GET")
       for k, kind in _HTTP_CHECK.items()},
    ("MISC_CHECK", "misc_timeout"): Number(0, UINT_MAX // 10**6),
    ("MISC_CHECK", "user"): Args(Word(), Word()),
    ("SMTP_CHECK", "helo_name"): Word(),
    ("UDP_CHECK", "min_reply_length"): Number(0, 65535),
    ("UDP_CHECK", "max_reply_length"): Number(0, 65535),
    ("url", "path"): Word(),
    ("url", "digest"): Digest(),
    ("url", "status_code"): StatusCodes(),
    ("url", "virtualhost"): Word(),
    ("DNS_CHECK", "type"): Choice(*DNS_TYPES, ignore_case=True),
    ("DNS_CHECK", "name"): Word(),
    ("FILE_CHECK", "track_file"): Word(),
    ("FILE_CHECK", "weight"): Args(Number(-INT_MAX, INT_MAX, signed=True), Choice("reverse")),
    ("BFD_CHECK", "name"): Word(),
    ("BFD_CHECK", "alpha"): Flag(),
    ("bfd_instance", "source_ip"): Address(),
    ("bfd_instance", "neighbor_ip"): Address(effect="keepalived drops the BFD instance"),
    ("bfd_instance", "neighbour_ip"): Address(effect="keepalived drops the BFD instance"),
    # milliseconds, with up to 3 decimals
    ("bfd_instance", "min_rx"): Seconds("1", "4294967", digits=3),
    ("bfd_instance", "min_tx"): Seconds("1", "4294967", digits=3),
    ("bfd_instance", "idle_tx"): Seconds("1000", "4294967", digits=3),
    ("bfd_instance", "multiplier"): Number(1, 255),
    ("bfd_instance", "ttl"): Number(1, 255),
    ("bfd_instance", "hoplimit"): Number(1, 255),
    ("bfd_instance", "max_hops"): Number(-1, 255, signed=True),
    ("bfd_instance", "weight"): _TRACK_WEIGHT,
}  # fmt: skip
"""(block, keyword) -> the kind of its arguments; a keyword not listed takes no argument
that keepalived checks (a flag such as ``nopreempt``, or free text keepalived passes on)."""

ENTRIES: Final[dict[tuple[str, str], Kind]] = {
    ("vrrp_instance", "virtual_ipaddress"): Vip(),
    ("vrrp_instance", "virtual_ipaddress_excluded"): Vip(),
    ("vrrp_instance", "unicast_peer"): Peer(effect="keepalived skips this peer"),
    **{(block, "track_interface"): Weighted() for block in ("vrrp_instance", "vrrp_sync_group")},
    **{(block, "track_script"): Weighted() for block in ("vrrp_instance", "vrrp_sync_group")},
    **{(block, "track_file"): Weighted(limit=254, strict_options=True)
       for block in ("vrrp_instance", "vrrp_sync_group")},
    **{(block, "track_process"): Weighted(limit=254)
       for block in ("vrrp_instance", "vrrp_sync_group")},
    **{(block, "track_bfd"): Weighted(low=-253, high=253, strict_options=True)
       for block in ("vrrp_instance", "vrrp_sync_group")},
    (TOP, "virtual_server_group"): GroupEntry(),
    (TOP, "static_ipaddress"): Vip(),
    **{(block, f"{kind}_routes"): Route() for block, kind in (("vrrp_instance", "virtual"),
                                                              (TOP, "static"))},
    **{(block, f"{kind}_rules"): Rule() for block, kind in (("vrrp_instance", "virtual"),
                                                            (TOP, "static"))},
}  # fmt: skip
"""(block, list keyword) -> the kind of each line in its ``{ }`` list."""

REFERENCES: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    **{(block, "track_script"): ("vrrp_script",) for block in ("vrrp_instance", "vrrp_sync_group")},
    **{(block, "track_file"): ("track_file", "vrrp_track_file")
       for block in ("vrrp_instance", "vrrp_sync_group")},
    **{(block, "track_process"): ("vrrp_track_process",)
       for block in ("vrrp_instance", "vrrp_sync_group")},
    **{(block, "track_bfd"): ("bfd_instance",) for block in ("vrrp_instance", "vrrp_sync_group")},
    ("FILE_CHECK", "track_file"): ("track_file", "vrrp_track_file"),
    ("BFD_CHECK", "name"): ("bfd_instance",),
}  # fmt: skip
"""(block, keyword) -> the top-level blocks whose names its argument or entries must be."""

DEFAULTS: Final[dict[tuple[str, str], str]] = {
    # (block, keyword) -> what keepalived 2.2.7 uses when the keyword is absent, from its
    # source; the renderer writes some of these out, which changes nothing.
    (TOP, "global_defs"): "",  # an empty global_defs is no global_defs
    ("global_defs", "smtp_connect_timeout"): "30",  # DEFAULT_SMTP_CONNECTION_TIMEOUT
    # VRRP_PRIO_DFL, except that an instance with state MASTER and no priority gets 255
    # (vrrp_complete_instance), so state MASTER and priority are read together.
    ("vrrp_instance", "priority"): "100",
    ("vrrp_instance", "state"): "BACKUP",  # for any priority but 255
    ("vrrp_instance", "advert_int"): "1",  # VRRP_ADVER_DFL
    ("vrrp_instance", "version"): "2",  # vrrp_version, except that IPv6 VIPs make it 3
    ("vrrp_script", "interval"): "1",  # VRRP_SCRIPT_DI
    ("vrrp_script", "rise"): "1",
    ("vrrp_script", "fall"): "1",
    ("vrrp_script", "weight"): "0",
    ("virtual_server", "delay_loop"): "60",  # KEEPALIVED_DEFAULT_DELAY
    ("virtual_server", "lvs_sched"): "wlc",  # IPVS_DEF_SCHED
    ("virtual_server", "lvs_method"): "NAT",
    ("real_server", "weight"): "1",
    **{(checker, "connect_timeout"): "5" for checker in ("TCP_CHECK", "HTTP_GET", "SSL_GET")},
}
"""Settings keepalived assumes when a config leaves them out. An imported spec rendered back
may state them explicitly; tests/test_import.py accepts exactly these as additions."""
