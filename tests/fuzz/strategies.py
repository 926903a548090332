"""Hypothesis strategies for what Zoho (or anything pretending to be Zoho) may send."""

from __future__ import annotations

import json

from hypothesis import strategies as st

#: JSON scalars, including the awkward ones.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)

#: Any JSON value, a few levels deep.
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

ids = st.one_of(
    st.integers(min_value=0, max_value=40).map(str),
    st.integers(min_value=-5, max_value=40),
    st.none(),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
    st.floats(allow_nan=False),
)

times = st.one_of(
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.text(max_size=25),
    scalars,
)

record_fields = {
    "id": ids,
    "File_Name": st.text(max_size=30) | scalars,
    "Size": st.integers(min_value=-10, max_value=10**12).map(str) | scalars,
    "Created_Time": times,
    "Modified_Time": times,
    "$type": st.sampled_from(["File", "Link URL", "link", "", "Attachment"]) | scalars,
    "$link_url": st.text(max_size=20) | scalars,
    "Parent_Id": st.fixed_dictionaries({}, optional={"id": ids, "name": scalars}) | scalars,
}

#: An attachment record with random, missing, extra and wrongly typed keys.
records = st.fixed_dictionaries({}, optional=record_fields).flatmap(
    lambda base: st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(
        lambda extra: {**extra, **base}
    )
)

infos = st.one_of(
    st.none(),
    scalars,
    st.lists(scalars, max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "more_records": st.booleans() | scalars,
            "next_page_token": st.none() | st.text(max_size=10) | st.integers(),
            "previous_page_token": st.none() | st.text(max_size=10),
            "page": st.integers() | scalars,
            "per_page": st.integers() | scalars,
            "count": st.integers() | scalars,
            "page_token_expiry": times,
        },
    ).flatmap(
        lambda base: st.dictionaries(st.text(max_size=8), scalars, max_size=2).map(lambda e: {**e, **base})
    ),
)

datas = st.one_of(st.none(), scalars, st.lists(st.one_of(records, scalars), max_size=12))

#: A decoded page of a listing (what ``AttachmentPager.feed`` takes), hostile included.
pages = st.one_of(
    st.none(),
    scalars,
    st.lists(json_values, max_size=3),
    st.fixed_dictionaries({}, optional={"data": datas, "info": infos}),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)

zoho_errors = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from(
            ["INVALID_TOKEN", "INVALID_DATA", "TOO_MANY_REQUESTS", "NO_PERMISSION", "INTERNAL_ERROR", "x"]
        )
        | scalars,
        "message": scalars | json_values,
        "status": st.sampled_from(["error", "success"]) | scalars,
        "details": json_values,
        "error": st.sampled_from(["invalid_code", "invalid_client", "Access Denied"]) | scalars,
        "error_description": scalars,
        "data": st.lists(json_values, max_size=3) | json_values,
    },
)


def _encode(value) -> bytes:
    return json.dumps(value).encode()


#: A response body: raw bytes, JSON of anything, Zoho-shaped errors and successes, HTML pages.
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(_encode),
    zoho_errors.map(_encode),
    st.fixed_dictionaries({"data": st.lists(zoho_errors | records, max_size=4)}).map(_encode),
    pages.map(_encode),
    st.text(max_size=200).map(lambda t: f"<html><body>{t}</body></html>".encode("utf-8", "surrogatepass")),
)

statuses = st.one_of(
    st.integers(min_value=100, max_value=599), st.sampled_from([200, 204, 304, 400, 401, 429, 500])
)
