"""
Properties of untrusted names and user input: a file name from Zoho always becomes one safe path
component; filters, ids, modules, fields and connection values raise ``ZohoCRMError`` or work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_zoho_attach.exceptions import ZohoCRMError, ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.filenames import (
    MAX_NAME_BYTES,
    filename_from_content_disposition,
    safe_filename,
    suffixed_filename,
)
from airflow_provider_zoho_attach.utils.filters import AttachmentFilter
from airflow_provider_zoho_attach.utils.protocol import fields_param
from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings
from airflow_provider_zoho_attach.utils.validation import normalize_module, validate_id, validate_ids
from tests.fuzz.strategies import json_values, records, scalars, times

#: Characters that break naive sanitisers: separators and their look-alikes, dots, controls,
#: combining marks, bidi overrides, compatibility forms, Windows-forbidden characters.
_HOSTILE = (
    "/\\.: \t\x00\x01\x1b\x7f\u2215\u2044\u29f8\uff0f\uff3c\uff0e\u2024\ufe52\u0301\u202e\u200b"
    '\ufb01\u00b9<>"|?*~%CONULPTcom1'
)
hostile_text = st.text(alphabet=st.sampled_from(_HOSTILE) | st.characters(codec="utf-8"), max_size=300)


def _assert_safe_component(name: str) -> None:
    assert isinstance(name, str)
    assert name not in ("", ".", "..")
    assert not any(ch in name for ch in "/\\\x00")
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name == name.strip()
    assert not name.endswith(".")
    assert not name.startswith(".")


def _one_line(error: Exception) -> None:
    assert "\n" not in str(error)


#: Integers too large for a float (JSON extras can hold them).
_huge = st.integers(min_value=10**308, max_value=10**330)

#: Secrets that no other generated value can equal (so finding one in a message is a leak).
_secrets = st.text(min_size=1, max_size=20).map(lambda tail: f"S3CR3T-{tail}")


def _holds_none_of(error: Exception, *secrets: object) -> None:
    for secret in secrets:
        if isinstance(secret, str) and secret.startswith("S3CR3T-"):
            assert secret.strip() not in str(error)


def _header(draw_value: str, charset: str, kind: str) -> str:
    if kind == "extended":
        return f"attachment; filename*={charset}''{quote(draw_value, safe='')}"
    if kind == "quoted":
        return 'attachment; filename="' + draw_value.replace('"', '\\"') + '"'
    return f"attachment; filename={draw_value}"


@given(
    value=hostile_text,
    charset=st.sampled_from(["UTF-8", "utf-8", "iso-8859-1", "x-unknown", ""]),
    kind=st.sampled_from(["extended", "quoted", "bare"]),
    raw=st.text(max_size=200),
    fallback=hostile_text,
)
def test_names_from_headers_become_one_safe_component(value, charset, kind, raw, fallback):
    for header in (_header(value, charset, kind), raw, f"{raw}; filename*=UTF-8''{value}"):
        name = filename_from_content_disposition(header)
        assert name is None or isinstance(name, str)
        _assert_safe_component(safe_filename(name, fallback=fallback))


@given(name=hostile_text, fallback=hostile_text, tag=st.integers(0, 10**19).map(str))
def test_safe_names_stay_safe_when_suffixed(name, fallback, tag):
    safe = safe_filename(name, fallback=fallback)
    _assert_safe_component(safe)
    assert safe_filename(safe, fallback="x") == safe  # idempotent
    _assert_safe_component(suffixed_filename(safe, tag))


_patterns = (
    st.none() | st.text(max_size=10) | st.lists(st.text(max_size=6), max_size=3) | scalars | json_values
)


@given(
    pattern=_patterns,
    created_after=st.none() | times | st.datetimes(timezones=st.none() | st.just(UTC)),
    created_before=st.none() | times,
    known_ids=st.none() | st.lists(scalars | records, max_size=4) | scalars,
    files_only=st.booleans(),
    candidates=st.lists(records, max_size=8),
)
def test_filters_refuse_clearly_or_never_fail(
    pattern, created_after, created_before, known_ids, files_only, candidates
):
    try:
        wanted = AttachmentFilter.build(
            file_name_pattern=pattern,
            created_after=created_after,
            created_before=created_before,
            known_ids=known_ids,
            files_only=files_only,
        )
    except ZohoCRMInvalidRequestError as error:
        _one_line(error)
        return
    kept = wanted.apply(candidates)
    assert len(kept) <= len(candidates)
    for record in kept:
        assert wanted.matches(record)
        if wanted.created_after is not None:
            assert isinstance(wanted.created_after, datetime)
            assert wanted.created_after.tzinfo is not None


@given(value=json_values | hostile_text, argument=st.sampled_from(["record_id", "attachment_id"]))
def test_ids_modules_and_fields_are_checked_without_surprises(value, argument):
    for check in (
        lambda: validate_id(value, argument=argument),
        lambda: validate_ids(value),
        lambda: normalize_module(value),
        lambda: fields_param(value),
    ):
        try:
            result = check()
        except ZohoCRMInvalidRequestError as error:
            _one_line(error)
            continue
        assert result is not None


@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            "client_id": scalars,
            "client_secret": scalars | _secrets,
            "refresh_token": scalars | _secrets,
            "data_center": scalars | st.sampled_from(["eu", "US", "com", "mars"]),
            "environment": scalars | st.sampled_from(["sandbox", "developer"]),
            "api_version": scalars | st.sampled_from(["v8", "v2.1", "8"]),
            "accounts_url": scalars
            | st.sampled_from(["https://a.b", "http://127.0.0.1:1", "https://x:99999"]),
            "api_domain": scalars | st.sampled_from(["https://a.b/", "ftp://a", "https://h/?q=1"]),
            "timeout": scalars | st.floats() | _huge,
            "max_concurrency": scalars | st.floats() | _huge,
            "max_retries": scalars | st.integers() | _huge,
            "token_cache": scalars | st.sampled_from(["memory", "none", "VARIABLE"]),
        },
    )
)
def test_connection_values_are_checked_without_surprises(values):
    values = {"client_id": "1000.ID", "client_secret": "secret", "refresh_token": "1000.r", **values}
    try:
        settings = ZohoCRMSettings.from_values(**values)
    except ZohoCRMError as error:
        _one_line(error)
        _holds_none_of(error, values["client_secret"], values["refresh_token"])
        return
    assert settings.timeout > 0
    assert 1 <= settings.max_concurrency <= 100
    assert settings.api_url("x").endswith("/crm/" + settings.api_version + "/x")
