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

TOP: Final = "<top>"
"""Name of the top level of a configuration file in :data:`GRAMMAR`."""

VALUE: Final = "value"
"""A keyword followed by its arguments on the same line."""

LIST: Final = "list"
"""A ``{ ... }`` block of free-form lines (addresses, names, routes) rather than keywords.

keepalived reads such a block line by line up to the first ``}``, so nothing in it is checked
against this table and a nested ``{`` does not nest.
"""

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
    # (block, keyword) -> what to write instead; keepalived 2.2.7 warns about each of these.
    ("HTTP_GET", "nb_get_retry"): "retry",
    ("SSL_GET", "nb_get_retry"): "retry",
    ("global_defs", "lvs_process_name"): "checker_process_name",
    ("global_defs", "lvs_flush_onstop"): "lvs_flush_on_stop",
    ("global_defs", "vrrp_vmac_garp_intvl"): "vrrp_garp_extra_if",
    ("global_defs", "vrrp_rlimit_rtime"): "vrrp_rlimit_rttime",
    ("global_defs", "checker_rlimit_rtime"): "checker_rlimit_rttime",
    ("global_defs", "bfd_rlimit_rtime"): "bfd_rlimit_rttime",
    ("global_defs", "enable_snmp_keepalived"): "enable_snmp_vrrp",
    ("vrrp_instance", "vmac_garp_intvl"): "garp_extra_if",
    ("vrrp_instance", "lvs_sync_daemon_interface"): "lvs_sync_daemon in global_defs",
    ("vrrp_instance", "linkbeat_use_polling"): "a top-level linkbeat_interfaces block",
    ("vrrp_sync_group", "global_tracking"): "track_interface/track_script/track_file on the group",
    ("SMTP_CHECK", "host"): "one SMTP_CHECK block per host",
    (TOP, "vrrp_track_file"): "track_file",
}

LEGACY_NAMES: Final[dict[str, str]] = {
    # Renamed in 2004 and still accepted silently by 2.2.7 (ChangeLog, keepalived 1.1.5).
    "lb_algo": "lvs_sched",
    "lb_kind": "lvs_method",
}

REMOVED: Final[dict[str, str]] = {
    # keyword -> why it is gone; keepalived 2.2.7 reports each as an unknown keyword.
    "nat_mask": (
        "nat_mask only ever applied to Linux 2.2 kernels and was removed in keepalived 1.2.20 "
        "(2016); LVS-NAT needs no mask"
    ),
    "lvs_id": "lvs_id was renamed router_id in keepalived 1.1.8 (2005); 2.2.7 no longer accepts it",
}
