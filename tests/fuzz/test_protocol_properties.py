"""
Properties of response parsing and pagination: only ``ZohoCRMError`` ever escapes, and a listing
always ends, whatever Zoho (or a proxy in front of it) sends.
"""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_zoho_attach.exceptions import ZohoCRMError, error_from_response
from airflow_provider_zoho_attach.utils.protocol import (
    AccessToken,
    AttachmentPager,
    RetryPolicy,
    check_json_response,
    parse_retry_after,
    parse_token_response,
)
from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings
from tests.fuzz.strategies import bodies, json_values, pages, scalars, statuses, zoho_errors

SETTINGS = ZohoCRMSettings.from_values(
    client_id="1000.CLIENT", client_secret="s3cret", refresh_token="1000.r"
)


def _malformed_listing(error: ZohoCRMError) -> None:
    assert error.code == "INVALID_RESPONSE"


def _clear(error: ZohoCRMError, operation: str = "fuzz") -> None:
    """A clear error: says what was being done, one line, no secret, a sane Retry-After."""
    text = str(error)
    assert error.operation == operation
    assert "\n" not in text
    assert "s3cret" not in text
    assert error.retry_after is None or error.retry_after >= 0


def _endless_page(counter: int, per_page: int) -> dict:
    """A page that always promises more, with new ids and a new token: the worst a server can do."""
    base = counter * per_page
    return {
        "data": [{"id": str(10**9 + base + i)} for i in range(min(per_page, 3))],
        "info": {"more_records": True, "next_page_token": f"token-{counter}"},
    }


@given(
    per_page=st.integers(min_value=1, max_value=200),
    drawn=st.lists(pages, max_size=25),
    endless=st.booleans(),
    endless_per_page=st.integers(min_value=100, max_value=200),
    huge=st.sampled_from([0] * 9 + [2500]),
)
def test_pagination_always_terminates(per_page, drawn, endless, endless_per_page, huge):
    if endless:
        per_page = endless_per_page  # keeps max_pages (and the test) short while still reaching it
    if huge:  # a page far larger than asked for, that promises more
        drawn = [{"data": [{"id": str(i)} for i in range(huge)], "info": {"more_records": True}}, *drawn]
    pager = AttachmentPager(per_page=per_page)
    seen: set[str] = set()
    feed = iter(drawn)
    for step in range(pager.max_pages + 5):
        if pager.done:
            break
        params = pager.params()
        assert params["per_page"] == str(per_page)
        assert ("page" in params) != ("page_token" in params)
        payload = next(feed, _endless_page(step, per_page) if endless else None)
        try:
            records = pager.feed(payload)
        except ZohoCRMError as error:
            _malformed_listing(error)
            break
        for record in records:
            assert isinstance(record, dict)
            if record.get("id") is not None:
                key = str(record["id"])
                assert key not in seen, "a record was yielded twice"
                seen.add(key)
    else:
        pytest.fail(f"the listing did not end within {pager.max_pages + 5} pages")


@given(status=statuses, body=bodies, retry_after=st.none() | st.text(max_size=40), empty_ok=st.booleans())
def test_check_json_response_only_raises_zoho_errors(status, body, retry_after, empty_ok):
    try:
        check_json_response(status, body, operation="fuzz", retry_after=retry_after, empty_ok=empty_ok)
    except ZohoCRMError as error:
        _clear(error)


@given(status=statuses, body=st.one_of(bodies, zoho_errors, json_values, st.text(max_size=100)))
def test_error_from_response_is_always_a_clear_error(status, body):
    error = error_from_response(status, body, operation="fuzz")
    assert isinstance(error, ZohoCRMError)
    text = str(error)
    assert text.startswith("fuzz failed")
    assert "\n" not in text
    assert "\r" not in text
    json.dumps(error.to_dict())  # trigger events carry it as JSON
    copy = ZohoCRMError.from_dict(error.to_dict())
    assert type(copy) is type(error)
    assert str(pickle.loads(pickle.dumps(error))) == text


@given(status=statuses, body=bodies, now=st.floats(min_value=0, max_value=4e9))
def test_token_responses_give_a_token_or_a_zoho_error(status, body, now):
    try:
        token = parse_token_response(status, body, SETTINGS, now=now)
    except ZohoCRMError as error:
        _clear(error, operation=f"get an access token from {SETTINGS.accounts_url}")
        return
    assert isinstance(token, AccessToken)
    assert isinstance(token.value, str)
    assert token.value
    assert token.expires_at > now
    assert token.value not in repr(token)


@given(value=st.none() | st.text(max_size=60) | scalars.map(str), retry=st.integers(1, 30), error=scalars)
def test_retry_waits_are_bounded(value, retry, error):
    seconds = parse_retry_after(value)
    assert seconds is None or seconds >= 0
    policy = RetryPolicy(max_delay=60.0)

    class Failure(Exception):
        retry_after = seconds

    delay = policy.delay(retry, Failure())
    assert 0 <= delay <= 60.0
