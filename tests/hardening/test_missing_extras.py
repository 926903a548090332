"""
An object-storage URL whose filesystem is not installed fails before any request, naming the extra.

Without this, ``s3://`` without s3fs surfaced only after the listing and the download, as Airflow's
(fsspec's) bare ``ImportError: Install s3fs to access S3``. Now it is a ``ZohoCRMInvalidRequestError``
with the code ``DESTINATION_ERROR`` and a hint ``pip install 'airflow-provider-zoho-attach[s3]'``,
raised while the emulator's request log is still empty.

The dev environment has none of s3fs, gcsfs and adlfs (they are only in the ``s3``, ``gcs`` and
``azure`` extras); each case that needs one to be missing is skipped where it is installed. The
``zohotestfs`` scheme is registered with fsspec for these tests only, pointing at a module that
does not exist, so at least one case runs everywhere.
"""

from __future__ import annotations

import importlib.util

import pytest
from fsspec.registry import known_implementations

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.transfer import STORAGE_EXTRAS, to_storage_path

pytestmark = pytest.mark.integration

FAKE_SCHEME = "zohotestfs"


@pytest.fixture
def fake_scheme(monkeypatch):
    """A scheme fsspec knows, whose implementation's module is not installed."""
    monkeypatch.setitem(
        known_implementations,
        FAKE_SCHEME,
        {"class": "zoho_test_missing_fs_module.FileSystem", "err": "Install zoho-test-missing-fs"},
    )
    return FAKE_SCHEME


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def _skip_unless_missing(module: str) -> None:
    if not _missing(module):
        pytest.skip(f"{module} is installed here")


def _assert_clear(error: ZohoCRMInvalidRequestError, scheme: str, install: str) -> None:
    assert error.code == "DESTINATION_ERROR"
    message = str(error)
    assert "\n" not in message, message
    assert f"{scheme}://" in message
    assert "not installed" in message
    assert install in message
    assert "nothing was sent to Zoho" in message


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("s3://bucket/zoho/", "s3fs", "s3"),
        ("gs://bucket/zoho/", "gcsfs", "gcs"),
        ("gcs://bucket/zoho/", "gcsfs", "gcs"),
        ("abfs://container/zoho/", "adlfs", "azure"),
        ("az://container/zoho/", "adlfs", "azure"),
    ],
)
def test_a_missing_filesystem_names_the_extra(url, module, extra):
    _skip_unless_missing(module)
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        to_storage_path(url, argument="destination")
    scheme = url.partition("://")[0]
    _assert_clear(info.value, scheme, f"pip install 'airflow-provider-zoho-attach[{extra}]'")
    assert info.value.details == {"argument": "destination", "protocol": scheme, "extra": extra}


def test_a_scheme_without_an_extra_says_what_to_install(fake_scheme):
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        to_storage_path(f"{fake_scheme}://bucket/file.pdf", argument="source")
    _assert_clear(info.value, fake_scheme, f"Install the fsspec filesystem for {fake_scheme}://")
    assert "Install zoho-test-missing-fs" in str(info.value)
    assert info.value.details["argument"] == "source"


def test_an_object_storage_path_is_checked_too():
    """An ``ObjectStoragePath`` of a DAG is built without its filesystem; the provider checks it."""
    from airflow.sdk import ObjectStoragePath

    _skip_unless_missing("s3fs")
    path = ObjectStoragePath("s3://bucket/zoho/")
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        to_storage_path(path, argument="destination")
    _assert_clear(info.value, "s3", "pip install 'airflow-provider-zoho-attach[s3]'")


def test_an_unknown_scheme_is_a_bad_argument():
    """Before: a bare ``ValueError: Unsupported filesystem`` from universal_pathlib."""
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        to_storage_path("nosuchscheme://bucket/zoho/", argument="destination")
    assert info.value.code == "INVALID_ARGUMENT"
    assert "destination='nosuchscheme://bucket/zoho/' is not valid" in str(info.value)


def test_installed_filesystems_still_pass(memory_storage, tmp_path):
    assert to_storage_path("memory://bucket/zoho/", argument="destination").protocol == "memory"
    assert str(to_storage_path(tmp_path.as_uri(), argument="destination")) == str(tmp_path)


def test_every_extra_is_in_pyproject():
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert set(STORAGE_EXTRAS.values()) <= set(extras)
    for extra, library in (("s3", "s3fs"), ("gcs", "gcsfs"), ("azure", "adlfs")):
        assert any(requirement.startswith(library) for requirement in extras[extra]), extra
    for development in ("test", "docs", "bench", "e2e", "distributed", "dev"):
        names = {r.split(">")[0].split("[")[0] for r in extras[development]}
        assert not {"s3fs", "gcsfs", "adlfs"} & names, development
    # dev is the union of the others (for developers), not a list of its own that drifts.
    assert extras["dev"] == ["airflow-provider-zoho-attach[test,docs,bench,e2e,distributed]"]


# --------------------------------------------------------------------------------------- before any request


@pytest.fixture
def emulator(zoho_emulator_connection):
    zoho_emulator_connection.reset_log()
    return zoho_emulator_connection


def _assert_nothing_sent(emulator) -> None:
    assert emulator.requests == []
    assert emulator.token_calls == 0


def test_download_operator_fails_before_the_listing(emulator, make_hook, context, fake_scheme):
    from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator

    record_id = emulator.add_record("Deals")
    emulator.add_attachment("Deals", record_id, "contract.pdf", b"%PDF-1.7")
    emulator.reset_log()
    operator = ZohoCRMDownloadAttachmentsOperator(
        task_id="download",
        module="Deals",
        record_id=record_id,
        destination=f"{fake_scheme}://bucket/{{module}}/",
    )
    operator.hook = make_hook()
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        operator.execute(context)
    assert info.value.code == "DESTINATION_ERROR"
    _assert_nothing_sent(emulator)


def test_upload_operator_fails_before_the_listing(emulator, make_hook, context, fake_scheme):
    from airflow_provider_zoho_attach.operators.attachments import ZohoCRMUploadAttachmentOperator

    record_id = emulator.add_record("Deals")
    emulator.reset_log()
    operator = ZohoCRMUploadAttachmentOperator(
        task_id="upload", module="Deals", record_id=record_id, source=f"{fake_scheme}://bucket/report.csv"
    )
    operator.hook = make_hook()
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        operator.execute(context)
    assert info.value.code == "DESTINATION_ERROR"
    _assert_nothing_sent(emulator)


@pytest.mark.parametrize("call", ["download_attachment", "download_photo"])
def test_hook_downloads_fail_before_any_request(emulator, make_hook, fake_scheme, call):
    record_id = emulator.add_record("Deals")
    emulator.reset_log()
    hook = make_hook()
    destination = f"{fake_scheme}://bucket/"
    if call == "download_attachment":
        args: tuple = ("Deals", record_id, "5725767000009000001", destination)
    else:
        args = ("Deals", record_id, destination)
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        getattr(hook, call)(*args)
    assert info.value.code == "DESTINATION_ERROR"
    _assert_nothing_sent(emulator)
