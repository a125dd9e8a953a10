"""Cluster specs whose real servers are loopback listeners, for tests that send real traffic.

The director's subnet is 127.0.0.0/8 so that NAT real servers on 127.0.0.x pass validation;
the spec is written as JSON, which is YAML, so a test states only its services.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DIRECTOR = {
    "name": "d1",
    "router_id": "D1",
    "priority": 100,
    "interfaces": [{"name": "eth0", "segment": "lab", "addresses": ["127.0.0.254/8"]}],
}


def service(name: str, *real_servers: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"name": name, "address": "127.0.0.100", "port": 80, **options,
            "real_servers": list(real_servers)}  # fmt: skip


def write_spec(directory: Path, *services: dict[str, Any]) -> Path:
    path = directory / "spec.yaml"
    spec = {"name": "loop", "directors": [DIRECTOR], "virtual_services": list(services)}
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path
