"""The pieces of an attachment watcher's persistent state that do not depend on how it is kept."""

from __future__ import annotations

import json
from typing import Any, Protocol


class _StateBackend(Protocol):
    """One place the state is kept: ``get`` returns ``None`` when nothing is saved, raises on failure."""

    async def get(self) -> Any: ...

    async def set(self, value: dict[str, Any]) -> None: ...


class _AssetBackend:
    """
    One asset's state store.

    :param accessor: anything with ``aget(key, default)`` and ``aset(key, value)``, such as Airflow's
        ``AssetStateStoreAccessor``.
    :param key: the watcher's state key.
    """

    def __init__(self, accessor: Any, *, key: str) -> None:
        self.accessor = accessor
        self.key = key

    async def get(self) -> Any:
        # Airflow returns the default for a key never set and raises for a store it cannot reach.
        return await self.accessor.aget(self.key, None)

    async def set(self, value: dict[str, Any]) -> None:
        await self.accessor.aset(self.key, value)


def _parse_state(value: Any, *, key: str) -> dict[str, set[str]]:
    """The ``seen`` ids of a stored state; a value that is not one is an error, never a first run."""
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    seen = value.get("seen") if isinstance(value, dict) else None
    if not isinstance(seen, dict) or not all(isinstance(ids, list) for ids in seen.values()):
        raise ZohoCRMError(
            f"the watcher's state {key} is not what the watcher writes",
            code="INVALID_STATE",
            operation=f"read the state of attachment watcher {key}",
            hint=(
                f"Something else wrote to {key}. Delete it to start over from a new baseline "
                "(attachments that arrive before the watcher runs again will not fire)."
            ),
        )
    return {str(record_id): {str(i) for i in ids} for record_id, ids in seen.items()}


def _supervisor_available() -> bool:
    """Whether this process talks to an Airflow supervisor (a triggerer or a task)."""
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def _supervisor() -> Any:
    """The triggerer's channel to Airflow's supervisor, or an error outside Airflow's runtime."""
    from airflow.sdk.execution_time import task_runner

    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if comms is None:
        raise ZohoCRMError(
            "no Airflow supervisor to keep the watcher's state with",
            code="STATE_UNAVAILABLE",
            hint="Run the attachment watcher in Airflow's triggerer, through an AssetWatcher.",
        )
    return comms
