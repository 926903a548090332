"""
The emulator's CRM API routes (``/crm/{version}/...``) and the scope checks they share.

Only the paths are matched here; the HTTP handler (:mod:`._emulator_server`) authenticates, and the
endpoint modules answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from airflow_provider_zoho_attach.testing._emulator_http import api_error
from airflow_provider_zoho_attach.testing._emulator_model import EmulatorConfig
from airflow_provider_zoho_attach.testing._emulator_store import ApiError, Store

__all__ = [
    "FILES_ROUTES",
    "OPERATIONS",
    "Route",
    "match_route",
    "module_allowed",
    "require",
    "scope_mismatch",
]

_VERSION = re.compile(r"^v\d+(\.\d+)?$")

#: Routes served by :mod:`._emulator_record_api` (Files API, field metadata, records, field files).
FILES_ROUTES = frozenset({"files", "fields", "modules", "records", "record", "field_attachment"})

#: Scope operations that allow an HTTP method (``ZohoCRM.modules.deals.{operation}``).
OPERATIONS = {
    "GET": ("read", "all"),
    "POST": ("create", "write", "update", "all"),
    "PUT": ("update", "write", "all"),
    "DELETE": ("delete", "all"),
}


@dataclass(frozen=True)
class Route:
    """
    A matched API path.

    :param kind: which endpoint.
    :param allowed: the HTTP methods it answers (others get ``INVALID_REQUEST_METHOD``).
    :param segments: the path after ``/crm/{version}/`` (module, record id, ...).
    """

    kind: str
    allowed: frozenset[str]
    segments: tuple[str, ...]


def _route(kind: str, methods: str, segments: tuple[str, ...] = ()) -> Route:
    return Route(kind, frozenset(methods.split()), segments)


_FIXED = {
    ("users",): _route("users", "GET"),
    ("org",): _route("org", "GET"),
    ("files",): _route("files", "GET POST"),
    ("settings", "fields"): _route("fields", "GET"),
    ("settings", "modules"): _route("modules", "GET"),
    ("coql",): _route("coql", "POST"),
}
_RESERVED = frozenset(name for key in _FIXED for name in key[:1])


def match_route(path: str) -> Route | None:
    """The route of a path, or ``None`` (``INVALID_URL_PATTERN``)."""
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != "" or parts[1] != "crm" or not _VERSION.match(parts[2]):
        return None
    rest = tuple(parts[3:])
    if rest and rest[-1] == "":
        rest = rest[:-1]
    if rest in _FIXED:
        return _FIXED[rest]
    if not rest or not all(rest) or rest[0] in _RESERVED:
        return None
    if len(rest) == 1:
        return _route("records", "GET PUT", rest)
    if len(rest) == 2 and rest[1] == "search":
        return _route("search", "GET", rest)
    if len(rest) == 2:
        return _route("record", "GET PUT", rest)
    if len(rest) == 3 and rest[2] == "Attachments":
        return _route("attachments", "GET POST DELETE", rest)
    if len(rest) == 4 and rest[2] == "Attachments":
        return _route("attachment", "GET DELETE", rest)
    if len(rest) == 3 and rest[2] == "photo":
        return _route("photo", "GET POST DELETE", rest)
    if len(rest) == 4 and rest[2:] == ("actions", "download_fields_attachment"):
        return _route("field_attachment", "GET", rest)
    return None


def scope_mismatch(config: EmulatorConfig) -> ApiError:
    """The ``OAUTH_SCOPE_MISMATCH`` error (its status is a switch)."""
    return api_error(
        config.oauth_scope_mismatch_status, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL"
    )


def require(scopes: frozenset[str], any_of: Iterable[str], config: EmulatorConfig) -> None:
    """
    Refuse unless the token has one of ``any_of`` (lower case; token scopes compare lower-cased).

    :raises ApiError: ``OAUTH_SCOPE_MISMATCH``.
    """
    if not any(scope in scopes for scope in any_of):
        raise scope_mismatch(config)


def module_allowed(store: Store, scopes: frozenset[str], module: str, method: str) -> bool:
    """Whether the token's module scopes allow ``method`` on ``module`` (``ZohoCRM.modules.ALL`` does)."""
    names = store.module_scope_names(module)
    return "zohocrm.modules.all" in scopes or any(
        f"zohocrm.modules.{name}.{op}" in scopes for name in names for op in OPERATIONS[method]
    )
