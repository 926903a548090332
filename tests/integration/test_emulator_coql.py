"""The emulator's COQL (POST /coql) and search (GET /{Module}/search), over HTTP."""

from __future__ import annotations

import pytest

from tests.integration._files_client import Api

STAGES = ["Won", "Lost", "Open", "Won", None]


@pytest.fixture
def deals(zoho_emulator):
    rows = [
        {
            "Deal_Name": f"Deal {i:02d}",
            "Stage": STAGES[i % 5],
            "Amount": i * 10,
            "Modified_Time": 1_700_000_000 + i,
        }
        for i in range(20)
    ]
    return zoho_emulator.add_records("Deals", rows)


@pytest.fixture
def coql_api(zoho_emulator, zoho_oas):
    """A client whose every answer is checked against coql.json (or record.json for search)."""
    client = Api(zoho_emulator, zoho_oas)
    yield client
    client.session.close()


def coql(api, query):
    return api.request("POST", "coql", json={"select_query": query})


def names(response):
    assert response.status_code == 200, response.text
    return [row["Deal_Name"] for row in response.json()["data"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Stage = 'Won'", [0, 3, 5, 8, 10, 13, 15, 18]),
        ("Amount > 150", [16, 17, 18, 19]),
        ("Amount <= 20", [0, 1, 2]),
        ("Amount between 30 and 50", [3, 4, 5]),
        ("Amount in (10, 30)", [1, 3]),
        ("(Stage = 'Lost' and Amount >= 100)", [11, 16]),
        ("((Stage = 'Lost' or Stage = 'Open') and Amount < 30)", [1, 2]),
        ("Stage is null", [4, 9, 14, 19]),
        ("Deal_Name like '%9'", [9, 19]),
        ("Deal_Name not like 'Deal 1%' and Stage = 'Lost'", [1, 6]),
        ("Stage not in ('Won', 'Lost', 'Open')", []),
        ("Modified_Time > '2023-11-14T22:13:37+00:00'", [18, 19]),
    ],
)
def test_where_filters(coql_api, deals, where, expected):
    query = f"select Deal_Name from Deals where {where} order by id asc limit 100"  # noqa: S608
    answer = coql(coql_api, query)
    if not expected:
        assert answer.status_code == 204
        return
    assert names(answer) == [f"Deal {i:02d}" for i in expected]


def test_order_limit_offset_and_info(coql_api, deals):
    answer = coql(
        coql_api, "SELECT Deal_Name, Amount FROM Deals WHERE id is not null ORDER BY Amount desc LIMIT 3"
    )
    assert names(answer) == ["Deal 19", "Deal 18", "Deal 17"]
    assert answer.json()["info"] == {"count": 3, "more_records": True}
    assert set(answer.json()["data"][0]) == {"Deal_Name", "Amount", "id"}
    by_offset = coql(coql_api, "select Deal_Name from Deals where id is not null limit 3 offset 18")
    assert names(by_offset) == ["Deal 18", "Deal 19"]
    assert by_offset.json()["info"]["more_records"] is False
    assert names(coql(coql_api, "select Deal_Name from Deals where id is not null limit 18, 1")) == [
        "Deal 18"
    ]
    query = f"select Deal_Name from Deals where id > {deals[17]} order by id asc limit 5"  # noqa: S608
    after = coql(coql_api, query)
    assert names(after) == ["Deal 18", "Deal 19"]


@pytest.mark.parametrize(
    ("query", "code", "details"),
    [
        ("select Deal_Name from Deals", "SYNTAX_ERROR", {"near": "end", "line": 1, "column": 28}),
        (
            "select Deal_Name from Deals where a = 1 and b = 2 and c = 3",
            "INVALID_QUERY",
            {"column_name": "a"},
        ),
        (
            "select Deal_Name from Deals where Amount = 1 and Amount = 2 and Amount = 3",
            "SYNTAX_ERROR",
            {"near": "and", "line": 1, "column": 61},
        ),
        (
            "select Deal_Name from Deals\nwhere Deal_Name = 'x' order Deal_Name",
            "SYNTAX_ERROR",
            {"near": "Deal_Name", "line": 2, "column": 29},
        ),
        (
            "select Deal_Name from Deals where Deal_Name > 'x'",
            "INVALID_QUERY",
            {"reason": "invalid operator found", "column_name": "Deal_Name", "operator": ">"},
        ),
        (
            "select Deal_Name from Deals where Amount like '1%'",
            "INVALID_QUERY",
            {"reason": "invalid operator found", "column_name": "Amount", "operator": "like"},
        ),
        (
            "select Deal_Name from Deals where Stage between 'a' and 'b'",
            "INVALID_QUERY",
            {"column_name": "Stage", "operator": "between"},
        ),
        ("select id from Deals where id is not null limit s", "INVALID_QUERY", {"limit": "s"}),
        (
            "select id from Deals where id in (" + ", ".join(["1"] * 101) + ")",  # noqa: S608
            "LIMIT_EXCEEDED",
            None,
        ),
        ("select id from Deals where id is not null limit 1000 offset 99001", "LIMIT_EXCEEDED", None),
        ("select Deal_Name from Deals where Amount =", "SYNTAX_ERROR", {"near": "end"}),
        ("select Nope from Deals where id is not null", "INVALID_QUERY", {"column_name": "Nope"}),
        ("select id from Nowhere where id is not null", "INVALID_MODULE", {}),
        ("select id from Deals where id is not null limit 2001", "LIMIT_EXCEEDED", None),
        ("select id from Deals where id is not null limit 2000 offset 98001", "LIMIT_EXCEEDED", None),
        ("select id from Deals where id is not null limit 0", "INVALID_DATA", None),
        ("select id from Deals where Stage ~ 'x'", "SYNTAX_ERROR", None),
    ],
)
def test_errors(coql_api, deals, query, code, details):
    answer = coql(coql_api, query)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == code
    if details is not None:
        assert details.items() <= body["details"].items(), body


def test_missing_query_and_scope(zoho_emulator, coql_api, deals):
    answer = coql_api.request("POST", "coql", json={})
    assert answer.json()["code"] == "MANDATORY_NOT_FOUND"
    no_coql = Api(zoho_emulator, None, scopes=["ZohoCRM.modules.ALL"])
    assert coql(no_coql, "select id from Deals where id is not null").json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_search_criteria_and_cap(zoho_emulator, files_api, deals):
    found = files_api.get(
        "Deals/search", criteria="((Stage:equals:Won)and(Amount:greater_than:100))", sort_order="asc"
    )
    assert names(found) == ["Deal 13", "Deal 15", "Deal 18"]
    assert names(files_api.get("Deals/search", criteria="(Deal_Name:starts_with:Deal 1)", per_page="2")) == [
        "Deal 19",
        "Deal 18",
    ]
    assert files_api.get("Deals/search", criteria="(Stage:equals:Nothing)").status_code == 204
    assert files_api.get("Deals/search", criteria="(Stage:equals").json()["code"] == "INVALID_QUERY"
    assert files_api.get("Deals/search").json()["code"] == "EXPECTED_PARAM_MISSING"
    assert files_api.get("Deals/search", criteria="(id:greater_than:1)", page="11").json()["code"] == (
        "LIMIT_REACHED"
    )
