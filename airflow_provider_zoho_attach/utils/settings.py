"""The connection model: an Airflow ``Connection`` of type ``zoho_crm`` turned into checked settings.

Everything about *where* and *how* to talk to Zoho is decided here, once, with a clear
:class:`~airflow_provider_zoho_attach.exceptions.ZohoCRMInvalidRequestError` for anything missing or
malformed, so that the hook never discovers a bad connection half-way through a request.

Fields (all but the OAuth client in ``extra``; keys may also carry the legacy ``extra__zoho_crm__``
prefix; empty strings and ``null`` mean "not set", as the connection form stores them):

============================== ======================================================================
login                          OAuth client id
password                       OAuth client secret
``refresh_token``              OAuth refresh token (required)
``data_center``                ``us`` (default), ``eu``, ``in``, ``au``, ``jp``, ``cn``, ``ca``, ``sa``,
                               ``uk``
``environment``                ``production`` (default), ``sandbox``, ``developer``
``api_version``                default ``v8``
``accounts_url``               explicit accounts (OAuth) server, overrides the data centre
``api_domain``                 explicit API domain, overrides the data centre and environment
``timeout``                    seconds per read of a response (default 60; connecting: at most 10)
``max_concurrency``            requests in flight per task (default 5)
``oauth_cache``                ``variable`` (default), ``file``, ``memory`` or ``none``; ``token_cache`` is
                               accepted too
``max_retries``                retries of a failed call (default 5)
``allow_api_domain_mismatch``  accept tokens that name another API domain (default false)
============================== ======================================================================
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.datacenters import (
    DATA_CENTERS,
    ENVIRONMENTS,
    DataCenter,
    resolve_data_center,
)
from airflow_provider_zoho_attach.utils.validation import parse_flag, parse_number

__all__ = [
    "CONN_TYPE",
    "DEFAULT_CONN_ID",
    "TOKEN_CACHE_MODES",
    "ZohoCRMSettings",
]

CONN_TYPE = "zoho_crm"
DEFAULT_CONN_ID = "zoho_crm_default"
TOKEN_CACHE_MODES: tuple[str, ...] = ("variable", "file", "memory", "none")

DEFAULT_API_VERSION = "v8"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_CONCURRENCY = 5
DEFAULT_MAX_RETRIES = 5
MAX_CONCURRENCY_LIMIT = 100
MAX_RETRIES_LIMIT = 20
#: The numeric fields: (smallest, largest, whole numbers only). A hook's overrides are held to them too.
NUMBER_LIMITS: dict[str, tuple[float, float, bool]] = {
    "timeout": (0.001, 3600, False),
    "max_concurrency": (1, MAX_CONCURRENCY_LIMIT, True),
    "max_retries": (0, MAX_RETRIES_LIMIT, True),
    # Zoho's largest editions get a few million credits a day; anything past that is a typo.
    "daily_credit_budget": (1, 100_000_000, True),
}

_LEGACY_PREFIX = f"extra__{CONN_TYPE}__"
_MASKED = "***"
_API_VERSION = re.compile(r"^v\d+(\.\d+)?$")


class _ConnectionLike(Protocol):
    @property
    def conn_id(self) -> str | None: ...

    @property
    def login(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ZohoCRMSettings:
    """
    Everything the hook needs to know about a ``zoho_crm`` connection, checked.

    Secrets (``client_secret``, ``refresh_token``) are excluded from ``repr()``.

    :param conn_id: the Airflow connection id (for messages).
    :param client_id: the OAuth client id.
    :param client_secret: the OAuth client secret.
    :param refresh_token: the OAuth refresh token.
    :param data_center: the data centre code (``us``, ``eu``...).
    :param environment: ``production``, ``sandbox`` or ``developer``.
    :param api_version: the CRM API version (``v8``).
    :param accounts_url: the OAuth accounts server (no trailing slash).
    :param api_domain: the API domain (no trailing slash).
    :param api_domain_pinned: ``True`` when ``api_domain`` was set explicitly. Requests always go to
        ``api_domain``; the ``api_domain`` of a token response is only checked against it.
    :param allow_api_domain_mismatch: accept tokens whose ``api_domain`` differs from the configured
        one (requests still go to the configured one).
    :param timeout: seconds per request.
    :param max_concurrency: requests in flight per hook.
    :param token_cache: where access tokens are cached: ``variable``, ``file``, ``memory`` or ``none``
        (the ``oauth_cache`` extra).
    :param max_retries: retries of a failed call before the error is raised.
    :param daily_credit_budget: API credits per 24 hours that attachment watchers and deferred
        sensors of this connection may spend together (``None``: no limit; see
        :doc:`/event-driven`).
    """

    conn_id: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    data_center: str = "us"
    environment: str = "production"
    api_version: str = DEFAULT_API_VERSION
    accounts_url: str = DATA_CENTERS["us"].accounts_url
    api_domain: str = DATA_CENTERS["us"].api_domain()
    api_domain_pinned: bool = False
    allow_api_domain_mismatch: bool = False
    timeout: float = DEFAULT_TIMEOUT
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    token_cache: str = "variable"
    max_retries: int = DEFAULT_MAX_RETRIES
    daily_credit_budget: int | None = None

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.accounts_url}/oauth/v2/token"

    @property
    def expected_token_api_domain(self) -> str:
        """
        The ``api_domain`` a token response should name for these settings.

        Zoho names the data centre's production API domain even for sandbox and developer orgs, so
        that is what is expected unless ``api_domain`` was set explicitly.
        """
        if self.api_domain_pinned:
            return self.api_domain
        return DATA_CENTERS[self.data_center].api_domain()

    @property
    def web_url(self) -> str:
        """The CRM web UI of this data centre and environment (for links to records)."""
        return DATA_CENTERS[self.data_center].web_url(self.environment)

    @property
    def credentials_fingerprint(self) -> str:
        """
        A short, non-reversible id of (accounts server, client id, refresh token).

        Zoho's token limits apply per refresh token, so this is the scope in which access tokens are
        shared. It is a truncated SHA-256: it identifies, it does not reveal.
        """
        material = "\x00".join((self.accounts_url, self.client_id, self.refresh_token))
        return hashlib.sha256(material.encode()).hexdigest()[:24]

    def api_url(self, path: str, api_domain: str | None = None) -> str:
        """Return the URL of ``path`` (relative to ``/crm/<version>/``) on the API domain."""
        return f"{api_domain or self.api_domain}/crm/{self.api_version}/{path.lstrip('/')}"

    @classmethod
    def from_connection(
        cls, conn: _ConnectionLike, *, extra: Mapping[str, Any] | None = None
    ) -> ZohoCRMSettings:
        """
        Build settings from an Airflow connection, rejecting anything missing or malformed.

        :param conn: an Airflow ``Connection`` (any object with ``conn_id``, ``login``,
            ``password`` and ``extra_dejson``).
        :param extra: the connection's extra, already decoded (an async caller reads it with
            ``aextra_dejson``, since ``extra_dejson`` may block the event loop); default:
            ``conn.extra_dejson``.
        :raises ZohoCRMInvalidRequestError: naming the field that is wrong.
        """
        conn_id = conn.conn_id or DEFAULT_CONN_ID
        extra = _normalise_extra(conn.extra_dejson if extra is None else extra)
        login, password = conn.login, conn.password
        if login is None and password is None:
            login, password = _credentials_from_mangled_uri(getattr(conn, "schema", None))
        return cls.from_values(conn_id=conn_id, client_id=login, client_secret=password, **extra)

    @classmethod
    def from_values(
        cls,
        *,
        conn_id: str = DEFAULT_CONN_ID,
        client_id: str | None,
        client_secret: str | None,
        refresh_token: Any = None,
        data_center: Any = None,
        environment: Any = None,
        api_version: Any = None,
        accounts_url: Any = None,
        api_domain: Any = None,
        timeout: Any = None,
        max_concurrency: Any = None,
        oauth_cache: Any = None,
        token_cache: Any = None,
        max_retries: Any = None,
        allow_api_domain_mismatch: Any = None,
        daily_credit_budget: Any = None,
        **unknown: Any,
    ) -> ZohoCRMSettings:
        """
        Build settings from plain values (the fields of the connection), checking each one.

        Unknown keys are ignored, so that extras added by other tools do not break the hook.
        """
        where = f"Connection {conn_id!r}"
        client_id, client_secret, refresh = _credentials(where, client_id, client_secret, refresh_token)
        dc, env = _data_center(where, data_center, environment)
        version = _text(api_version) or DEFAULT_API_VERSION
        if not _API_VERSION.match(version):
            raise _bad(where, f"has a malformed api_version {version!r}; expected something like 'v8'")
        accounts = _url(where, "accounts_url", _text(accounts_url)) or dc.accounts_url
        pinned_domain = _url(where, "api_domain", _text(api_domain))
        cache_mode = _cache_mode(where, oauth_cache, token_cache)
        mismatch_allowed = _flag(where, "allow_api_domain_mismatch", allow_api_domain_mismatch)
        return cls(
            conn_id=conn_id,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh,
            data_center=dc.code,
            environment=env,
            api_version=version,
            accounts_url=accounts,
            api_domain=pinned_domain or dc.api_domain(env),
            api_domain_pinned=pinned_domain is not None,
            allow_api_domain_mismatch=mismatch_allowed,
            timeout=_number(where, "timeout", timeout, DEFAULT_TIMEOUT),
            max_concurrency=int(_number(where, "max_concurrency", max_concurrency, DEFAULT_MAX_CONCURRENCY)),
            token_cache=cache_mode,
            max_retries=int(_number(where, "max_retries", max_retries, DEFAULT_MAX_RETRIES)),
            daily_credit_budget=_optional_int(where, "daily_credit_budget", daily_credit_budget),
        )


def _credentials(where: str, client_id: Any, client_secret: Any, refresh_token: Any) -> tuple[str, str, str]:
    """
    The OAuth client id, client secret and refresh token, each required.

    :param where: the connection, for the message.
    :param client_id: the connection's login.
    :param client_secret: the connection's password.
    :param refresh_token: the ``refresh_token`` extra.
    :raises ZohoCRMInvalidRequestError: for a missing value, or the mask a form saved instead of one.
    """
    for name, value in (("client secret", client_secret), ("refresh token", refresh_token)):
        if isinstance(value, str) and value.strip() == _MASKED:
            raise _bad(
                where,
                f"holds Airflow's mask '***' instead of its {name}: the form saved the placeholder; "
                "enter the real value again",
            )
    client = _text(client_id)
    secret = _text(client_secret)
    refresh = _text(refresh_token)
    if not client:
        raise _bad(where, "has no client id: put the OAuth Client ID in the Login (Client ID) field")
    if not secret:
        raise _bad(where, "has no client secret: put it in the Password (Client Secret) field")
    if not refresh:
        raise _bad(
            where,
            "has no refresh token: set the 'refresh_token' extra (create one with a Self Client "
            "in Zoho's API console)",
        )
    return client, secret, refresh


def _data_center(where: str, data_center: Any, environment: Any) -> tuple[DataCenter, str]:
    """
    The data centre (``us`` when not set) and the environment (``production`` when not set).

    :param where: the connection, for the message.
    :param data_center: the ``data_center`` extra.
    :param environment: the ``environment`` extra.
    :raises ZohoCRMInvalidRequestError: for an unknown data centre or environment.
    """
    dc_name = _text(data_center) or "us"
    dc = resolve_data_center(dc_name)
    if dc is None:
        raise _bad(
            where,
            f"has an unknown data_center {dc_name!r}; use one of {', '.join(DATA_CENTERS)} "
            "(or set accounts_url and api_domain explicitly)",
        )
    env = (_text(environment) or "production").lower()
    if env not in ENVIRONMENTS:
        raise _bad(where, f"has an unknown environment {env!r}; use one of {', '.join(ENVIRONMENTS)}")
    return dc, env


def _cache_mode(where: str, oauth_cache: Any, token_cache: Any) -> str:
    """
    Where access tokens are cached (``variable`` when not set).

    The extra was first named token_cache; Airflow masks every extra whose name contains "token",
    which hid its value ("***") in the connection form and in logs. Both names work.

    :param where: the connection, for the message.
    :param oauth_cache: the ``oauth_cache`` extra (it wins).
    :param token_cache: the ``token_cache`` extra, its older name.
    :raises ZohoCRMInvalidRequestError: for an unknown mode.
    """
    cache_mode = (_text(oauth_cache) or _text(token_cache) or "variable").lower()
    if cache_mode not in TOKEN_CACHE_MODES:
        raise _bad(
            where, f"has an unknown oauth_cache {cache_mode!r}; use one of {', '.join(TOKEN_CACHE_MODES)}"
        )
    return cache_mode


_MANGLED_URI = re.compile(r"^oho_crm//(?P<userinfo>.*)@[^@]*$", re.DOTALL)


def _credentials_from_mangled_uri(schema: str | None) -> tuple[str | None, str | None]:
    """
    Recover the client id and secret of a ``zoho_crm://ID:SECRET@/?...`` URI.

    URI schemes cannot contain underscores, so Airflow's parser does not see ``zoho_crm`` as a
    scheme (``zoho-crm://`` is the spelling it understands) and leaves the already percent-decoded
    ``ID:SECRET@host/`` in ``schema`` behind a stray ``oho_crm//``. Client ids never contain ``:``
    and host names never contain ``@``, so the split below is unambiguous.
    """
    match = _MANGLED_URI.match(schema or "")
    if not match:
        return None, None
    login, _, password = match.group("userinfo").partition(":")
    return login or None, password or None


def _normalise_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in (extra or {}).items():
        name = key[len(_LEGACY_PREFIX) :] if key.startswith(_LEGACY_PREFIX) else key
        # An unprefixed key wins over its legacy twin.
        if name in result and key.startswith(_LEGACY_PREFIX):
            continue
        result[name] = value
    return result


def _bad(where: str, what: str) -> ZohoCRMInvalidRequestError:
    return ZohoCRMInvalidRequestError(
        f"{where} {what}",
        code="INVALID_CONNECTION",
        hint="Edit the connection (Admin > Connections) or the AIRFLOW_CONN_... variable that defines it.",
        operation="read the Zoho CRM connection",
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    # A connection form may write back the mask it displayed; it means "not set".
    return text if text and text != _MASKED else None


def _url(where: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise _bad(where, f"has a malformed {name} {value!r}; expected a URL such as 'https://host[:port]'")
    try:
        parts.port  # noqa: B018 - validates the port number
    except ValueError:
        raise _bad(where, f"has a malformed {name} {value!r}: bad port") from None
    return value.rstrip("/")


def _flag(where: str, name: str, value: Any) -> bool:
    """A yes/no extra: a bool, or the strings a form or a URI stores ("true", "false", "1", "0")."""
    if value is None or value == "":
        return False
    flag = parse_flag(value)
    if flag is None:
        raise _bad(where, f"has a malformed {name} {value!r}; expected true or false")
    return flag


def _optional_int(where: str, name: str, value: Any) -> int | None:
    """A whole-number field with no default (``None`` when not set), within its limits."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return int(_number(where, name, value, 0))


def _number(where: str, name: str, value: Any, default: float) -> float:
    """
    A numeric field, within its :data:`NUMBER_LIMITS` (``default`` when not set).

    :param where: the connection, for the message.
    :param name: the field (a key of :data:`NUMBER_LIMITS`).
    :param value: what the connection holds.
    :param default: the value when the field is not set.
    :raises ZohoCRMInvalidRequestError: for anything but a number within the limits.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    minimum, maximum, integer = NUMBER_LIMITS[name]
    kind = "a whole number" if integer else "a number"
    number = parse_number(value, integer=integer)
    if number is None:
        raise _bad(where, f"has {name}={value!r}; expected {kind}")
    if not minimum <= number <= maximum:
        raise _bad(where, f"has {name}={value!r}; expected {kind} between {minimum:g} and {maximum:g}")
    return number
