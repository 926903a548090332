"""
The emulator's admin HTTP API under ``/__emulator__/``: a dispatch table of ``(method, route)``.

Requests to it are not logged, not counted and need no authentication.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from airflow_provider_zoho_attach.testing._emulator_http import ADMIN_PREFIX, Response, json_response
from airflow_provider_zoho_attach.testing._emulator_io import BodyReader, TooLarge
from airflow_provider_zoho_attach.testing._emulator_model import (
    ALL_SCOPES,
    EmulatorConfig,
    EmulatorData,
    RequestRecord,
)
from airflow_provider_zoho_attach.testing._emulator_store import Store

__all__ = ["AdminAPI", "AdminTarget"]

_BODY_LIMIT = 256 * 1024 * 1024


class AdminTarget(EmulatorData, Protocol):
    """What the admin API reads and drives: the public side of the emulator facade."""

    client_id: str
    client_secret: str
    refresh_token: str

    @property
    def url(self) -> str: ...

    @property
    def config(self) -> EmulatorConfig: ...

    @property
    def requests(self) -> list[RequestRecord]: ...

    @property
    def faults(self) -> list[dict[str, Any]]: ...

    @property
    def deleted_attachments(self) -> list[dict[str, Any]]: ...

    def connection_uri(self, **extra: Any) -> str: ...

    def airflow_env(self, conn_id: str = ..., **extra: Any) -> dict[str, str]: ...

    def stats(self) -> dict[str, Any]: ...

    def reset_log(self) -> None: ...

    def attachments(self, module: str, record_id: str) -> list[dict[str, Any]]: ...

    def attachment_content(self, attachment_id: str) -> bytes: ...

    def attachment_content_type(self, attachment_id: str) -> str: ...

    def inject_fault(
        self,
        kind: str,
        *,
        count: int = ...,
        method: str | None = ...,
        path: str | None = ...,
        status: int | None = ...,
        delay: float | None = ...,
    ) -> None: ...

    def clear_faults(self) -> None: ...

    def expire_access_tokens(self) -> None: ...

    def revoke_access_tokens(self) -> None: ...

    def create_refresh_token(self, scopes: Iterable[str] = ..., *, client_id: str | None = ...) -> str: ...

    def revoke_refresh_token(self, token: str) -> None: ...


#: A handler: ``(api, query, payload) -> response``.
_Handler = Callable[["AdminAPI", dict[str, str], dict[str, Any]], Response]


def _ok(value: Any, status: int = 200) -> Response:
    return json_response(status, value, zoho=False)


class AdminAPI:
    """
    Serve ``/__emulator__/...`` for one emulator.

    ``GET state``, ``GET credentials``, ``GET requests``, ``GET stats``, ``POST reset-log``,
    ``POST records``, ``POST attachments``, ``POST links``, ``GET attachments?module=&record_id=``,
    ``GET attachments/{id}/content``, ``GET deleted``, ``GET|POST|DELETE faults``,
    ``GET|PATCH config``, ``POST clock/advance``, ``POST tokens/expire``, ``POST tokens/revoke``,
    ``POST refresh-tokens``, ``POST refresh-tokens/revoke``, ``POST fields``,
    ``GET|POST field-files``, ``GET zfs``, ``POST zfs/virus``.

    :param emulator: the emulator it drives.
    :param store: the emulator's data (for the full state).
    """

    def __init__(self, emulator: AdminTarget, store: Store) -> None:
        self.emulator = emulator
        self.store = store

    def __call__(self, method: str, path: str, query: dict[str, str], body: BodyReader) -> Response:
        """Answer one admin request (``path`` starts with ``/__emulator__``)."""
        route = path[len(ADMIN_PREFIX) :].strip("/")
        try:
            payload: dict[str, Any] = {}
            if method in ("POST", "PATCH", "PUT"):
                raw = body.read_all(_BODY_LIMIT)
                if raw.strip():
                    loaded = json.loads(raw)
                    if not isinstance(loaded, dict):
                        raise ValueError("the body must be a JSON object")
                    payload = loaded
            return self.route(method, route, query, payload)
        except TooLarge:
            return json_response(413, {"error": "body too large"}, zoho=False)
        except (ValueError, KeyError, TypeError) as exc:
            return json_response(400, {"error": f"{type(exc).__name__}: {exc}"}, zoho=False)

    def route(self, method: str, route: str, query: dict[str, str], payload: dict[str, Any]) -> Response:
        """Find the handler of ``(method, route)`` (``route`` without the prefix) and run it."""
        handler = _ROUTES.get((method, route))
        if handler is not None:
            return handler(self, query, payload)
        if method == "GET" and route.startswith("attachments/") and route.endswith("/content"):
            return self._content(route[len("attachments/") : -len("/content")])
        return json_response(404, {"error": f"no admin endpoint {method} {ADMIN_PREFIX}/{route}"}, zoho=False)

    # ------------------------------------------------------------------ handlers

    def _state(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        store = self.store
        with store.lock:
            records = [
                {
                    "module": r.module,
                    "record_id": r.id,
                    "name": r.name,
                    "photo": r.photo is not None,
                    "attachments": [a.full for a in store.listing(r)],
                    "field_files": self.emulator.files.field_files(r.module, r.id),
                }
                for r in store.records.values()
            ]
            return _ok(
                {
                    "url": self.emulator.url,
                    "records": records,
                    "config": self.emulator.config.to_dict(),
                    "faults": self.emulator.faults,
                }
            )

    def _credentials(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        emulator = self.emulator
        return _ok(
            {
                "url": emulator.url,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
                "refresh_token": emulator.refresh_token,
                "connection_uri": emulator.connection_uri(),
                "env": emulator.airflow_env(),
            }
        )

    def _requests(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        return _ok({"requests": [r.to_dict() for r in self.emulator.requests]})

    def _stats(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        return _ok(self.emulator.stats())

    def _reset_log(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        self.emulator.reset_log()
        return _ok({"status": "success"})

    def _add_record(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        record_id = payload.get("record_id")
        new_id = self.emulator.add_record(
            payload["module"], str(record_id) if record_id is not None else None, name=payload.get("name")
        )
        return _ok({"id": new_id}, 201)

    def _add_attachment(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        new_id = self.emulator.add_attachment(
            payload["module"],
            str(payload["record_id"]),
            payload["file_name"],
            _content(payload),
            created_time=payload.get("created_time"),
            content_type=payload.get("content_type"),
        )
        return _ok({"id": new_id}, 201)

    def _add_link(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        new_id = self.emulator.add_link_attachment(
            payload["module"],
            str(payload["record_id"]),
            payload["url"],
            title=payload.get("title"),
            created_time=payload.get("created_time"),
        )
        return _ok({"id": new_id}, 201)

    def _attachments(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        return _ok({"attachments": self.emulator.attachments(query["module"], query["record_id"])})

    def _content(self, attachment_id: str) -> Response:
        data = self.emulator.attachment_content(attachment_id)
        content_type = self.emulator.attachment_content_type(attachment_id)
        return Response(status=200, headers=[("Content-Type", content_type)], body=data)

    def _deleted(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        return _ok({"deleted": self.emulator.deleted_attachments})

    def _faults(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        return _ok({"faults": self.emulator.faults})

    def _inject_fault(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        self.emulator.inject_fault(
            payload["kind"],
            count=int(payload.get("count", 1)),
            method=payload.get("method"),
            path=payload.get("path"),
            status=payload.get("status"),
            delay=payload.get("delay"),
        )
        return _ok({"faults": self.emulator.faults}, 201)

    def _clear_faults(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        self.emulator.clear_faults()
        return _ok({"faults": []})

    def _config(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        return _ok(self.emulator.config.to_dict())

    def _update_config(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        self.emulator.config.update(**payload)
        return _ok(self.emulator.config.to_dict())

    def _advance_clock(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        clock = self.emulator.clock
        clock.advance(float(payload["seconds"]))
        return _ok({"clock_offset": clock.offset})

    def _expire_tokens(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        self.emulator.expire_access_tokens()
        return _ok({"status": "success"})

    def _revoke_tokens(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        self.emulator.revoke_access_tokens()
        return _ok({"status": "success"})

    def _create_refresh_token(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        scopes = payload.get("scopes", list(ALL_SCOPES))
        if not isinstance(scopes, list):
            raise TypeError("scopes must be a list")
        return _ok({"refresh_token": self.emulator.create_refresh_token(scopes)}, 201)

    def _revoke_refresh_token(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        self.emulator.revoke_refresh_token(payload["token"])
        return _ok({"status": "success"})

    def _add_field(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        field = self.emulator.files.add_field(
            payload["module"],
            payload["api_name"],
            payload.get("data_type", "fileupload"),
            length=int(payload.get("length", 1)),
            label=payload.get("label"),
        )
        return _ok(field, 201)

    def _field_files(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        found = self.emulator.files.field_files(query["module"], query["record_id"], query.get("field"))
        return _ok({"field_files": found})

    def _add_field_file(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        entry = self.emulator.files.attach(
            payload["module"],
            str(payload["record_id"]),
            payload["field"],
            payload["file_name"],
            _content(payload),
            content_type=payload.get("content_type"),
            description=payload.get("description"),
            created_time=payload.get("created_time"),
        )
        return _ok(entry, 201)

    def _zfs(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        used = {"true": True, "false": False}.get(query.get("used", "").lower())
        return _ok({"files": self.emulator.files.zfs_files(used=used)})

    def _flag_virus(self, query: dict[str, str], payload: dict[str, Any]) -> Response:
        self.emulator.files.flag_virus(payload["file_name"])
        return _ok({"status": "success"})


def _content(payload: dict[str, Any]) -> bytes | str:
    """A file's content from ``content`` (text) or ``content_base64``."""
    if "content_base64" in payload:
        return base64.b64decode(payload["content_base64"], validate=True)
    return str(payload.get("content", ""))


#: ``(method, route) -> handler``; ``GET attachments/{id}/content`` is matched in :meth:`AdminAPI.route`.
_ROUTES: dict[tuple[str, str], _Handler] = {
    ("GET", ""): AdminAPI._state,
    ("GET", "state"): AdminAPI._state,
    ("GET", "credentials"): AdminAPI._credentials,
    ("GET", "requests"): AdminAPI._requests,
    ("GET", "stats"): AdminAPI._stats,
    ("POST", "reset-log"): AdminAPI._reset_log,
    ("POST", "records"): AdminAPI._add_record,
    ("POST", "attachments"): AdminAPI._add_attachment,
    ("POST", "links"): AdminAPI._add_link,
    ("GET", "attachments"): AdminAPI._attachments,
    ("GET", "deleted"): AdminAPI._deleted,
    ("GET", "faults"): AdminAPI._faults,
    ("POST", "faults"): AdminAPI._inject_fault,
    ("DELETE", "faults"): AdminAPI._clear_faults,
    ("GET", "config"): AdminAPI._config,
    ("PATCH", "config"): AdminAPI._update_config,
    ("POST", "config"): AdminAPI._update_config,
    ("POST", "clock/advance"): AdminAPI._advance_clock,
    ("POST", "tokens/expire"): AdminAPI._expire_tokens,
    ("POST", "tokens/revoke"): AdminAPI._revoke_tokens,
    ("POST", "refresh-tokens"): AdminAPI._create_refresh_token,
    ("POST", "refresh-tokens/revoke"): AdminAPI._revoke_refresh_token,
    ("POST", "fields"): AdminAPI._add_field,
    ("GET", "field-files"): AdminAPI._field_files,
    ("POST", "field-files"): AdminAPI._add_field_file,
    ("GET", "zfs"): AdminAPI._zfs,
    ("POST", "zfs/virus"): AdminAPI._flag_virus,
}
