"""The services a menu calls by name: handlers bound to the contracts of :mod:`ivr.contracts`."""

from ivr.services.registry import (
    SPECS,
    Handler,
    ServiceContext,
    ServiceRegistry,
    ServiceSpec,
    default_registry,
)

__all__ = [
    "SPECS",
    "Handler",
    "ServiceContext",
    "ServiceRegistry",
    "ServiceSpec",
    "default_registry",
]
