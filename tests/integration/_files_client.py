"""
A small client of the emulator's files endpoints for the integration tests: every answer it gets is
checked against Zoho's OAS files (:mod:`._oas`) when they are present.
"""

from __future__ import annotations

import re

import requests

from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png
from tests.integration._oas import Oas, check_answer

TIMEOUT = 30
MIB = 1024 * 1024
PNG = tiny_png(8, 8)
PDF = b"%PDF-1.4 signed"
ZFS_ID = re.compile(r"^[0-9a-f]{40}$")
ZOHO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def load_oas():
    """The OAS files as validators, or ``None`` when they are not there."""
    return Oas() if Oas.available() else None


class Api:
    """An authenticated client of one emulator that checks every answer against the OAS."""

    def __init__(self, emulator, oas, scopes=None):
        self.emulator = emulator
        self.oas = oas
        self.session = requests.Session()
        refresh = emulator.create_refresh_token(scopes) if scopes else None
        self.session.headers["Authorization"] = f"Zoho-oauthtoken {emulator.issue_access_token(refresh)}"
        self.base = f"{emulator.url}/crm/v8/"

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        response = self.session.request(method, self.base + path, **kwargs)
        if self.oas is not None:
            check_answer(self.oas, response)
        return response

    def get(self, path, **params):
        return self.request("GET", path, params=params)

    def upload(self, *files, **params):
        parts = [("file", file) for file in files]
        return self.request("POST", "files", files=parts, params=params)

    def put(self, path, *records):
        return self.request("PUT", path, json={"data": list(records)})


def deal_with_empty_fields(emulator):
    """A Deal with the demo's three file fields (Photos takes 3 images here), empty."""
    files = emulator.files
    files.add_field("Deals", "Signed_Contract", "fileupload", length=1)
    files.add_field("Deals", "Supporting_Documents", "fileupload", length=5)
    files.add_field("Deals", "Photos", "imageupload", length=3)
    return emulator.add_record("Deals", name="Acme")


def ids(response):
    """The ZFS ids of a successful upload."""
    assert response.status_code == 200, response.text
    return [entry["details"]["id"] for entry in response.json()["data"]]


def error(response):
    """``(code, details)`` of a request-level error."""
    body = response.json()
    return body["code"], body["details"]


def record(api, record_id, module="Deals"):
    """A record's JSON, read through the API."""
    response = api.get(f"{module}/{record_id}")
    assert response.status_code == 200, response.text
    (data,) = response.json()["data"]
    return data
