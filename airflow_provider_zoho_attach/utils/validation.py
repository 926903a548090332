"""Checks of user input that happen before any request is sent: the one home of argument checks.

Every check raises :class:`~airflow_provider_zoho_attach.exceptions.ZohoCRMInvalidRequestError`
(``INVALID_ARGUMENT``) naming the argument, never a bare ``ValueError`` or ``TypeError``.

A module may be given by its API name (``Leads``, ``Sales_Orders``) or by the lower-case name of
Zoho's docs and OAuth scopes (``leads``, ``salesorders``); standard names are normalised to API
names and anything else that looks like an API name is passed through as a custom module, unless it is
a singular or a slip of a standard name (``Lead``, ``Contcts``), which is refused with the
name that was probably meant. Record and attachment ids are strings of digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, overload

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.times import as_aware, parse_iso_time

__all__ = [
    "STANDARD_MODULES",
    "check_link",
    "normalize_module",
    "parse_flag",
    "parse_number",
    "parse_time_argument",
    "redact_url",
    "require_value",
    "validate_attachment_refs",
    "validate_call",
    "validate_count",
    "validate_id",
    "validate_ids",
    "validate_known_ids",
    "validate_patterns",
    "validate_seconds",
    "validate_window",
]

#: Zoho's standard modules that support attachments, by API name.
STANDARD_MODULES: tuple[str, ...] = (
    "Leads",
    "Accounts",
    "Contacts",
    "Deals",
    "Campaigns",
    "Tasks",
    "Cases",
    "Events",
    "Calls",
    "Solutions",
    "Products",
    "Vendors",
    "Price_Books",
    "Quotes",
    "Sales_Orders",
    "Purchase_Orders",
    "Invoices",
    "Appointments__s",
    "Services__s",
    "Notes",
)

# Lookup key: lower case without underscores, so "salesorders", "sales_orders" and "Sales_Orders"
# all find Sales_Orders. "appointments"/"services" are the docs' names of the __s system modules;
# "potentials" is the old name of Deals, still seen in scopes and URLs.
_BY_KEY: dict[str, str] = {name.lower().replace("_", ""): name for name in STANDARD_MODULES}
_BY_KEY.update({"appointments": "Appointments__s", "services": "Services__s", "potentials": "Deals"})

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_ID = re.compile(r"^[0-9]{1,30}$")


def normalize_module(module: Any, *, argument: str = "module") -> str:
    """
    Return the API name of ``module``.

    :param module: an API name (``Sales_Orders``), a docs name (``salesorders``) or a custom
        module's API name.
    :param argument: the name of the argument, for the message.
    :raises ZohoCRMInvalidRequestError: if ``module`` is empty or cannot be an API name.
    """
    if not isinstance(module, str) or not module.strip():
        raise ZohoCRMInvalidRequestError.for_argument(
            argument, module, "a Zoho CRM module API name such as 'Leads' or 'Deals'"
        )
    name = module.strip()
    if not _API_NAME.match(name):
        raise ZohoCRMInvalidRequestError.for_argument(
            argument,
            module,
            "a module API name (letters, digits and underscores, starting with a letter, no spaces), "
            "e.g. 'Sales_Orders' rather than 'Sales Orders'",
        )
    key = name.lower().replace("_", "")
    if key in _BY_KEY:
        return _BY_KEY[key]
    suggestion = _close_standard_module(key)
    if suggestion is not None:
        # A typo or a singular would pass as a custom module and fail only at Zoho, as an
        # INVALID_MODULE that does not say which name was meant.
        raise ZohoCRMInvalidRequestError.for_argument(
            argument,
            module,
            f"a module API name; did you mean {suggestion!r}?",
            hint=(
                f"Use {argument}={suggestion!r} (standard module API names are plural). Names this "
                "close to a standard module are not taken for custom modules. Nothing was sent to Zoho."
            ),
        )
    return name


def _close_standard_module(key: str) -> str | None:
    """
    The standard module that ``key`` (lower case, no underscores) misspells, if any.

    Only the shapes of a slip are taken: a singular (``lead``), one or two letters left out
    (``contcts``, ``accnts``), two neighbours swapped (``laeds``). A different word that is merely
    similar (``contracts``, ``dealers``, ``quotas``) may well be a custom module, and passes.
    """
    import difflib

    for plural in (f"{key}s", f"{key}es"):
        if plural in _BY_KEY:
            return _BY_KEY[plural]
    for candidate in difflib.get_close_matches(key, list(_BY_KEY), n=3, cutoff=0.75):
        if _left_out(key, candidate) or _swapped(key, candidate):
            return _BY_KEY[candidate]
    return None


def _left_out(typed: str, meant: str) -> bool:
    """Whether ``typed`` is ``meant`` with one or two letters left out (and at least four kept)."""
    if len(typed) < 4 or not 1 <= len(meant) - len(typed) <= 2:
        return False
    letters = iter(meant)
    return all(letter in letters for letter in typed)  # a subsequence, in order


def _swapped(typed: str, meant: str) -> bool:
    """Whether ``typed`` is ``meant`` with two neighbouring letters swapped."""
    if len(typed) != len(meant):
        return False
    diffs = [i for i, (a, b) in enumerate(zip(typed, meant, strict=True)) if a != b]
    return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and typed[diffs[0]] == meant[diffs[1]]


def validate_id(value: Any, *, argument: str = "record_id") -> str:
    """
    Return ``value`` as a Zoho id string (digits only).

    :param value: an int or a string of digits (surrounding whitespace is ignored).
    :param argument: the name of the argument, for the message.
    :raises ZohoCRMInvalidRequestError: for anything else (``None``, ``""``, ``"12a"``, floats, bools).
    """
    if isinstance(value, bool) or value is None:
        raise ZohoCRMInvalidRequestError.for_argument(
            argument, value, "a Zoho id: a string of digits such as '5725767000001234001'"
        )
    if isinstance(value, int):
        if value < 0:
            raise ZohoCRMInvalidRequestError.for_argument(argument, value, "a Zoho id: a string of digits")
        return str(value)
    if isinstance(value, str) and _ID.match(value.strip()):
        return value.strip()
    raise ZohoCRMInvalidRequestError.for_argument(
        argument, value, "a Zoho id: a string of digits such as '5725767000001234001'"
    )


def validate_ids(values: Any, *, argument: str = "attachment_ids") -> list[str]:
    """
    Return a list of id strings from one id, a comma-separated string, or an iterable of ids.

    Duplicates are dropped; order is kept.

    :raises ZohoCRMInvalidRequestError: if any element is not an id, or nothing was given.
    """
    items: Iterable[Any]
    if isinstance(values, str):
        items = [part for part in values.split(",") if part.strip()]
    elif isinstance(values, int) and not isinstance(values, bool):
        items = [values]
    elif isinstance(values, Iterable) and not isinstance(values, bytes | dict):
        items = list(values)
    else:
        raise ZohoCRMInvalidRequestError.for_argument(
            argument, values, "an id, a list of ids, or a comma-separated string of ids"
        )
    result: list[str] = []
    for item in items:
        # Accept attachment records (the list operator's output) as well as bare ids.
        ident = validate_id(
            item["id"] if isinstance(item, dict) and "id" in item else item, argument=argument
        )
        if ident not in result:
            result.append(ident)
    if not result:
        raise ZohoCRMInvalidRequestError.for_argument(argument, values, "at least one id")
    return result


@overload
def validate_count(
    value: Any, *, argument: str, minimum: int, optional: Literal[False] = False, from_text: bool = True
) -> int: ...


@overload
def validate_count(
    value: Any, *, argument: str, minimum: int, optional: bool, from_text: bool = True
) -> int | None: ...


def validate_count(
    value: Any, *, argument: str, minimum: int, optional: bool = False, from_text: bool = True
) -> int | None:
    """
    Return a count argument (``max_items``, ``min_count``) as an int.

    :param value: an int or a string of digits (what a template renders to).
    :param argument: the name of the argument, for the message.
    :param minimum: the smallest count accepted.
    :param optional: ``None`` and ``""`` mean "not set" (returned as ``None``).
    :param from_text: accept a string of digits; ``False`` refuses every string (a hook's
        ``max_items`` takes an int only).
    :raises ZohoCRMInvalidRequestError: for anything else (bools, floats, negative numbers...).
    """
    if optional and (value is None or value == ""):
        return None
    digits = from_text and isinstance(value, str) and value.strip().isdigit()
    count = int(value.strip()) if digits else value
    if isinstance(count, bool) or not isinstance(count, int) or count < minimum:
        raise ZohoCRMInvalidRequestError.for_argument(argument, value, f"a whole number >= {minimum}")
    return count


def parse_number(value: Any, *, integer: bool = False) -> float | None:
    """
    Return ``value`` as a number, or ``None`` if it is not one; the caller says what it expected.

    :param value: a number or its text (what a form, a URI or a template stores); bools are not
        numbers.
    :param integer: accept whole numbers only (``5``, ``"5"``, ``5.0``).
    """
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if integer and not number.is_integer():
        return None
    return number


_YES = ("true", "1", "yes", "on")
_NO = ("false", "0", "no", "off")


def parse_flag(value: Any) -> bool | None:
    """
    Return a yes/no value as a bool, or ``None`` if it is neither; the caller says what it expected.

    :param value: a bool, or the text a form or a URI stores (``"true"``, ``"false"``, ``"1"``,
        ``"0"``, ``"yes"``, ``"no"``, ``"on"``, ``"off"``, in any case).
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    return None


def validate_seconds(value: Any, *, argument: str) -> float:
    """
    Return a duration argument (``poll_interval``) as a number of seconds > 0.

    :param value: a number or its text (what a template renders to).
    :param argument: the name of the argument, for the message.
    :raises ZohoCRMInvalidRequestError: for anything that is not a number > 0.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0:
        raise ZohoCRMInvalidRequestError.for_argument(argument, value, "seconds > 0")
    return seconds


def require_value(value: Any, *, argument: str, expected: str) -> Any:
    """
    Return ``value`` unless it is missing: ``None`` or a blank string.

    :param argument: the name of the argument, for the message.
    :param expected: what would have been accepted, for the message.
    :raises ZohoCRMInvalidRequestError: if ``value`` is missing.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ZohoCRMInvalidRequestError.for_argument(argument, value, expected)
    return value


def validate_patterns(value: Any, *, argument: str = "file_name_pattern") -> tuple[str, ...]:
    """
    Return file-name globs as a tuple: one glob, a list of globs, or none (``None``/``""``).

    :raises ZohoCRMInvalidRequestError: for anything else (an empty glob in a list, a number...).
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(item, str) and item for item in value):
        return tuple(value)
    raise ZohoCRMInvalidRequestError.for_argument(
        argument, value, "a glob such as '*.pdf', or a list of globs"
    )


def validate_known_ids(value: Any, *, argument: str = "known_ids") -> frozenset[str]:
    """
    Return the ids of a list of attachment ids or records (``None``: none).

    :raises ZohoCRMInvalidRequestError: if ``value`` is not a list (a string is not one).
    """
    if value is None:
        return frozenset()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ZohoCRMInvalidRequestError.for_argument(argument, value, "a list of attachment ids")
    return frozenset(str(item.get("id")) if isinstance(item, Mapping) else str(item) for item in value)


def parse_time_argument(value: Any, *, argument: str) -> datetime | None:
    """
    Return a time argument as an aware datetime, or ``None`` if unset.

    Read like Zoho's own times (:mod:`~airflow_provider_zoho_attach.utils.times`): a naive time is
    taken as UTC.

    :param value: a ``datetime`` (pendulum's too), an ISO-8601 string (what
        ``{{ data_interval_start }}`` renders to), or ``None``/``""``.
    :param argument: the name of the argument, for the message.
    :raises ZohoCRMInvalidRequestError: for anything else, naming ``argument``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return as_aware(value)
    if not isinstance(value, str):
        raise ZohoCRMInvalidRequestError.for_argument(argument, value, "a datetime or an ISO-8601 string")
    parsed = parse_iso_time(value)
    if parsed is None:
        raise ZohoCRMInvalidRequestError.for_argument(
            argument, value, "an ISO-8601 date-time such as '2024-03-02T14:05:11+00:00'"
        )
    return parsed


def validate_window(since: datetime | None, until: datetime | None) -> None:
    """
    Refuse a window ``[since, until)`` that no time is in (``until`` not after ``since``).

    :param since: the checked start (inclusive), ``None`` for none.
    :param until: the checked end (exclusive), ``None`` for none.
    :raises ZohoCRMInvalidRequestError: naming ``until``.
    """
    if since is not None and until is not None and since >= until:
        raise ZohoCRMInvalidRequestError.for_argument(
            "until",
            until.isoformat(),
            f"a time after since ({since.isoformat()})",
            hint="Pass an until later than since (until defaults to the data interval end).",
        )


def validate_attachment_refs(
    attachment_ids: Any, *, record_id: Any
) -> tuple[str | None, list[tuple[str, Mapping[str, Any] | None]] | None]:
    """
    Return the record id and the attachments asked for, each with its record when one was given.

    ``attachment_ids`` may hold ids (a list, or a comma-separated string) or attachment records
    (the list operator's output); a record's ``Parent_Id`` supplies the record id when
    ``record_id`` is not given. Ids are kept once, in order.

    :param attachment_ids: what the task was given; ``None`` means every attachment of the record
        (then the attachments returned are ``None``).
    :param record_id: the task's ``record_id`` (``None`` or ``""``: not given). It is returned as
        given or found, not checked: the caller checks it with :func:`validate_id`.
    :raises ZohoCRMInvalidRequestError: for an id that is not one, records of another record, or no
        record id at all.
    """
    given_record = None if record_id in (None, "") else str(record_id)
    if attachment_ids is None:
        if given_record is None:
            raise ZohoCRMInvalidRequestError.for_argument(
                "record_id", record_id, "a record id (or attachment records that carry Parent_Id)"
            )
        return given_record, None
    items: list[Any]
    if isinstance(attachment_ids, str):
        items = [part for part in attachment_ids.split(",") if part.strip()]
    elif isinstance(attachment_ids, list | tuple):
        items = list(attachment_ids)
    else:
        items = [attachment_ids]
    given: dict[str, Mapping[str, Any] | None] = {}
    for item in items:
        if not isinstance(item, Mapping):
            for ident in validate_ids(item, argument="attachment_ids"):
                given.setdefault(ident, None)
            continue
        # A record without "id" is shown whole in the message, not as "None".
        ident = validate_id(item.get("id", item), argument="attachment_ids")
        parent = item.get("Parent_Id")
        parent_id = str(parent["id"]) if isinstance(parent, Mapping) and parent.get("id") else None
        if given_record is None:
            given_record = parent_id
        elif parent_id is not None and parent_id != given_record:
            raise ZohoCRMInvalidRequestError.for_argument(
                "attachment_ids", ident, f"attachments of record {given_record}, not of record {parent_id}"
            )
        given[ident] = item
    if given and given_record is None:
        raise ZohoCRMInvalidRequestError.for_argument(
            "record_id", record_id, "a record id (the attachment ids given carry no Parent_Id)"
        )
    return given_record, list(given.items())


def redact_url(url: Any) -> str:
    """
    Return ``url`` fit for a log line or an error: its query and fragment replaced by ``***``.

    Link attachments are often signed URLs (S3, SharePoint, Drive) whose query string is a bearer
    credential. The query is also registered with Airflow's secrets masker, so it is hidden wherever
    else it might be printed.
    """
    from urllib.parse import urlsplit, urlunsplit

    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<a malformed URL>"
    if not parts.query and not parts.fragment:
        return text
    for secret in (parts.query, parts.fragment):
        if secret:
            _mask(secret)
    return urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            parts.path,
            "***" if parts.query else "",
            "***" if parts.fragment else "",
        )
    )


def _mask(value: str) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - airflow.sdk always has it on 3.x
        return
    mask_secret(value)


def validate_file_id(value: Any, *, argument: str = "file_id") -> str:
    """
    Return ``value`` as a Zoho File System id: the opaque string ``POST /files`` answered.

    :raises ZohoCRMInvalidRequestError: for anything but 1 to 150 letters, digits, ``-`` or ``_``.
    """
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > 150 or not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in text):
        raise ZohoCRMInvalidRequestError.for_argument(
            argument, value, "a Zoho File System id such as 'ae9c6cd994aa55a0fda90faaff4a2f472b1c94e7'"
        )
    return text


def validate_field_choice(value: Any, *, argument: str = "include_field_files") -> list[str] | None:
    """
    Return which file fields an argument such as ``include_field_files`` names.

    :param value: ``True`` (or its text) for every file field, ``False``/``None``/empty for none,
        a field's API name, or a list of them (what a template renders to is accepted).
    :return: ``None`` for every file field, else the API names (empty: none).
    :raises ZohoCRMInvalidRequestError: for anything else.
    """
    if value is None or value in ("", []):
        return []
    if isinstance(value, str):
        flag = parse_flag(value)
        if flag is not None:
            return None if flag else []
        value = [value]
    elif isinstance(value, bool):
        return None if value else []
    names = list(value) if isinstance(value, list | tuple) else None
    if names is None or not all(isinstance(name, str) and name.strip() for name in names):
        raise ZohoCRMInvalidRequestError.for_argument(
            argument, value, "True, False, a file field's API name or a list of them"
        )
    return [name.strip() for name in names]


def check_link(url: Any, title: Any = None) -> None:
    """Refuse a link attachment's URL or title before anything is sent."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 3000:
        raise ZohoCRMInvalidRequestError.for_argument(
            "link_url",
            redact_url(url) if isinstance(url, str) else url,
            "an http(s) URL of at most 3,000 characters",
        )
    if title is not None and (not isinstance(title, str) or not 1 <= len(title.strip()) <= 255):
        raise ZohoCRMInvalidRequestError.for_argument("title", title, "1 to 255 characters")


_CALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def validate_call(
    method: Any, path: Any, *, json: Any = None, data: Any = None, headers: Any = None
) -> tuple[str, bytes | None, dict[str, str]]:
    """
    Check the arguments of a hook's ``call`` and return what to send: (method, body, headers).

    :param method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``, in any case.
    :param path: the endpoint relative to ``/crm/<version>/``.
    :param json: a body to send as JSON.
    :param data: a body to send as is (``str`` or ``bytes``) or, for a mapping, form-encoded.
    :param headers: extra request headers (not ``Authorization``).
    :return: the upper-case method, the encoded body (``None``: none) and the headers as strings,
        with a ``Content-Type`` for a JSON or form body unless the caller gave one.
    :raises ZohoCRMInvalidRequestError: for a bad argument, before anything is sent.
    """
    verb = method.upper() if isinstance(method, str) else None
    if verb not in _CALL_METHODS:
        raise ZohoCRMInvalidRequestError.for_argument("method", method, "one of " + ", ".join(_CALL_METHODS))
    if not _is_api_path(path):
        raise ZohoCRMInvalidRequestError.for_argument(
            "path",
            path,
            "a path relative to /crm/<version>/ such as 'users' or 'Deals/123/Notes' "
            "(no scheme, host, leading '/', query, '.' or '..'; pass the query as params)",
        )
    if json is not None and data is not None:
        raise ZohoCRMInvalidRequestError.for_argument("data", "...", "json or data, not both")
    request_headers = {str(name): str(value) for name, value in (headers or {}).items()}
    if any(name.lower() == "authorization" for name in request_headers):
        raise ZohoCRMInvalidRequestError.for_argument(
            "headers", "Authorization", "no Authorization header (the hook sends its access token)"
        )
    has_type = any(name.lower() == "content-type" for name in request_headers)
    body: bytes | None = None
    if json is not None:
        import json as json_module

        body = json_module.dumps(json).encode("utf-8")
        if not has_type:
            request_headers["Content-Type"] = "application/json"
    elif isinstance(data, Mapping):
        from urllib.parse import urlencode

        body = urlencode(data, doseq=True).encode("utf-8")
        if not has_type:
            request_headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif isinstance(data, str):
        body = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray)):
        body = bytes(data)
    elif data is not None:
        raise ZohoCRMInvalidRequestError.for_argument("data", data, "a mapping of form fields, str or bytes")
    return verb, body, request_headers


def _is_api_path(path: Any) -> bool:
    """Whether ``path`` stays under ``/crm/<version>/``: relative, no scheme or host, no dot segments."""
    from urllib.parse import unquote

    if not isinstance(path, str) or not path or len(path) > 2000 or path.startswith("/"):
        return False
    if any(char in path for char in "?#\\") or any(ord(char) < 0x21 or ord(char) == 0x7F for char in path):
        return False
    segments = path.split("/")
    if ":" in segments[0]:
        return False  # a scheme (https:) or a host with a port
    for segment in segments:
        decoded = unquote(segment)
        if decoded in ("", ".", "..") or "/" in decoded or "\\" in decoded:
            return False
    return True
