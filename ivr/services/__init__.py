"""The services a menu calls by name: contracts in :mod:`registry`, handlers beside them."""

from ivr.services.registry import (
    SPECS,
    Handler,
    ServiceContext,
    ServiceRegistry,
    ServiceResultData,
    ServiceSpec,
    default_registry,
)

__all__ = [
    "SPECS",
    "Handler",
    "ServiceContext",
    "ServiceRegistry",
    "ServiceResultData",
    "ServiceSpec",
    "default_registry",
]
