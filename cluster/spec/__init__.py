"""The cluster spec: model, loading with line numbers, validation, and the built-in seed."""

from cluster.spec.load import dump_spec, load_seed_spec, load_spec, read_spec
from cluster.spec.model import (
    ClusterSpec,
    Director,
    RealServer,
    VirtualService,
    VrrpInstance,
)

__all__ = [
    "ClusterSpec",
    "Director",
    "RealServer",
    "VirtualService",
    "VrrpInstance",
    "dump_spec",
    "load_seed_spec",
    "load_spec",
    "read_spec",
]
