"""
Testing tools: the Zoho CRM emulator and its pytest fixtures.

The names below are loaded lazily, so ``import airflow_provider_zoho_attach.testing`` costs
nothing until one of them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_zoho_attach.testing.emulator import (
        ALL_SCOPES,
        FAULT_KINDS,
        STANDARD_MODULES,
        Clock,
        EmulatorConfig,
        Fault,
        RequestRecord,
        ZohoCRMEmulator,
    )

__all__ = [
    "ALL_SCOPES",
    "FAULT_KINDS",
    "STANDARD_MODULES",
    "Clock",
    "EmulatorConfig",
    "Fault",
    "RequestRecord",
    "ZohoCRMEmulator",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module("airflow_provider_zoho_attach.testing.emulator")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
