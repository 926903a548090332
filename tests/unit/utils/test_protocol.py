"""Pagination decisions: page numbers up to 2,000 rows, then page tokens; it always terminates."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError, ZohoCRMServerError
from airflow_provider_zoho_attach.utils.protocol import AttachmentPager, fields_param


def page(start, count, *, more, token=None):
    return {
        "data": [{"id": str(i)} for i in range(start, start + count)],
        "info": {"per_page": 200, "count": count, "more_records": more, "next_page_token": token},
    }


def test_pages_by_number_then_by_token():
    pager = AttachmentPager()
    seen = []
    params = []
    offset = 0
    while not pager.done:
        params.append(pager.params())
        number = len(params)
        more = number < 12
        seen += pager.feed(page(offset, 200, more=more, token=f"tok{number}" if more else None))
        offset += 200
    assert len(seen) == 2400
    assert [p.get("page") for p in params[:10]] == [str(n) for n in range(1, 11)]
    assert params[10] == {"per_page": "200", "page_token": "tok10"}
    assert params[11] == {"per_page": "200", "page_token": "tok11"}
    assert all("page" not in p for p in params[10:])


def test_stops_on_204_empty_page_and_more_records_false():
    for payload in (None, {"data": [], "info": {"more_records": True}}, page(0, 3, more=False)):
        pager = AttachmentPager()
        pager.feed(payload)
        assert pager.done


@pytest.mark.parametrize("info", [None, "nonsense", {}, {"more_records": "true"}, {"more_records": 1}])
def test_a_broken_info_block_ends_the_listing(info):
    pager = AttachmentPager()
    records = pager.feed({"data": [{"id": "1"}], "info": info})
    assert records == [{"id": "1"}]
    assert pager.done


def test_a_page_of_ids_already_seen_does_not_end_the_listing():
    # Issue 12 (8): many attachments arriving during a listing shift whole pages of known rows
    # onto the next page; the listing ended there and lost everything after it.
    pager = AttachmentPager(per_page=2)
    pager.feed(page(0, 2, more=True))
    assert pager.feed(page(0, 2, more=True)) == []
    assert not pager.done
    assert [r["id"] for r in pager.feed(page(2, 2, more=False))] == ["2", "3"]
    assert pager.done


def test_pages_of_known_ids_forever_still_end():
    pager = AttachmentPager(per_page=200)

    def feed_forever():
        for number in range(pager.max_pages + 1):
            info = {"more_records": True, "next_page_token": f"t{number}"}
            pager.feed({"data": [{"id": "1"}], "info": info})

    with pytest.raises(ZohoCRMServerError, match="more than"):
        feed_forever()


def test_rows_shifted_by_a_new_attachment_are_not_yielded_twice():
    pager = AttachmentPager(per_page=3)
    first = pager.feed(page(0, 3, more=True))
    second = pager.feed(page(2, 3, more=False))
    assert [r["id"] for r in first + second] == ["0", "1", "2", "3", "4"]


def test_more_records_without_a_token_past_2000_rows_is_an_error_not_a_loop():
    pager = AttachmentPager()
    for n in range(9):
        pager.feed(page(n * 200, 200, more=True))
    # Page 10 ends the rows Zoho serves by number: going on needs its next_page_token.
    with pytest.raises(ZohoCRMServerError, match="past 2000"):
        pager.feed(page(1800, 200, more=True, token=None))


def test_a_repeated_token_is_an_error_not_a_loop():
    pager = AttachmentPager(per_page=200)
    pager.page = 10
    pager.feed(page(0, 200, more=True, token="same"))
    with pytest.raises(ZohoCRMServerError, match="no new next_page_token"):
        pager.feed(page(200, 200, more=True, token="same"))


def test_page_count_is_bounded():
    pager = AttachmentPager(per_page=200)

    def walk_forever():
        for n in range(10_000):
            pager.feed(page(n * 200, 200, more=True, token=f"t{n}"))

    with pytest.raises(ZohoCRMServerError, match="more than"):
        walk_forever()
    assert pager.pages_fetched <= pager.max_pages


@pytest.mark.parametrize("per_page", [0, 201, "200", True, None])
def test_per_page_is_checked(per_page):
    with pytest.raises(ZohoCRMInvalidRequestError, match="per_page"):
        AttachmentPager(per_page=per_page)


def test_malformed_pages_raise_provider_errors():
    pager = AttachmentPager()
    with pytest.raises(ZohoCRMServerError):
        pager.feed(["not", "an", "object"])
    with pytest.raises(ZohoCRMServerError):
        AttachmentPager().feed({"data": "nope"})


def test_fields_always_start_with_id():
    assert fields_param(["File_Name", "id", "Size"]) == "id,File_Name,Size"
    assert fields_param("File_Name, Size") == "id,File_Name,Size"
    assert fields_param(None).startswith("id,File_Name,Size,Created_Time")


@pytest.mark.parametrize("fields", [["File Name"], [""], ["a,b"], [f"F{i}" for i in range(60)], [None]])
def test_bad_fields_are_refused(fields):
    with pytest.raises(ZohoCRMInvalidRequestError, match="fields"):
        fields_param(fields)
