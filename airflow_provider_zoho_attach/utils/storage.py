"""Where a transfer's bytes live: a local path or Airflow's object storage.

:func:`to_storage_path` turns what a user passes (a path, a ``file://`` or object-storage URL, an
``ObjectStoragePath``) into a local :class:`~pathlib.Path` or an ``ObjectStoragePath``, and fails
before any request is sent when the filesystem of a URL's scheme is not installed, naming the
provider's extra that brings it (:data:`STORAGE_EXTRAS`). Also the size of the chunks every
transfer streams in (:data:`CHUNK_SIZE`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = ["CHUNK_SIZE", "STORAGE_EXTRAS", "is_url", "to_storage_path"]

#: The size of the chunks a transfer reads, writes and hashes (1 MiB).
CHUNK_SIZE = 1024 * 1024


def is_url(value: str) -> bool:
    """Whether ``value`` is an object-storage URL (``scheme://...``) rather than a local path."""
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").isalnum() and len(scheme) > 1


def to_storage_path(value: Any, *, argument: str) -> Path | ObjectStoragePath:
    """
    Return a local :class:`~pathlib.Path` or an ``ObjectStoragePath`` for ``value``.

    ``file://`` URLs and plain paths are local (fast, atomic renames); any other URL, and any
    ``ObjectStoragePath`` not on the local filesystem, goes through Airflow's object storage.

    :raises ZohoCRMInvalidRequestError: for ``None``, an empty string or another type.
    """
    # Before isinstance(value, Path): with universal_pathlib < 0.3 (Airflow 3.1) an
    # ObjectStoragePath *is* a pathlib.Path, but its bytes live in object storage.
    if _is_object_storage_path(value):
        if getattr(value, "protocol", None) in ("file", "local"):
            return Path(value.path)
        _require_filesystem(value, argument)
        return value
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ZohoCRMInvalidRequestError.for_argument(argument, value, "a path or an object-storage URL")
        if text.startswith("file://"):
            from urllib.parse import unquote, urlsplit

            return Path(unquote(urlsplit(text).path))
        if is_url(text):
            from airflow.sdk import ObjectStoragePath

            try:
                path = ObjectStoragePath(text)
            except ImportError as error:
                raise _missing_filesystem(argument, text, error) from None
            except ValueError as error:
                raise ZohoCRMInvalidRequestError.for_argument(
                    argument, value, f"a local path or an object-storage URL ({error})"
                ) from None
            _require_filesystem(path, argument)
            return path
        return Path(os.path.expanduser(text))
    if isinstance(value, os.PathLike):
        return Path(os.fspath(value))
    raise ZohoCRMInvalidRequestError.for_argument(
        argument, value, "a path, an ObjectStoragePath or an object-storage URL"
    )


#: The provider's optional extra that brings what Airflow's object storage needs for a URL scheme:
#: the fsspec implementation and the Airflow provider that registers it.
STORAGE_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "abfs": "azure",
    "abfss": "azure",
    "az": "azure",
    "adl": "azure",
}


def _require_filesystem(path: ObjectStoragePath, argument: str) -> None:
    """
    Fail before any request if the filesystem of ``path``'s scheme is not installed.

    fsspec and Airflow resolve a scheme's filesystem lazily, so a missing ``s3fs`` would otherwise
    surface only at the first write, after the download, as a bare ``ImportError: Install s3fs``.
    Only a missing module is caught here; any other problem (credentials, a connection) is left to
    the first real use, where it is reported with the file it concerns.
    """
    protocol = str(getattr(path, "protocol", "") or "")
    if not protocol or protocol in ("file", "local"):
        return
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as error:
        raise _missing_filesystem(argument, str(path), error) from None
    except ValueError:  # not a scheme fsspec knows: Airflow's own registry may still have it
        pass
    try:
        path.fs  # noqa: B018 - resolving it imports the filesystem's module
    except ImportError as error:
        raise _missing_filesystem(argument, str(path), error) from None
    except Exception:  # noqa: S110 - reported with its file at the first real use
        pass


def _missing_filesystem(argument: str, url: str, error: ImportError) -> ZohoCRMInvalidRequestError:
    protocol = url.partition("://")[0]
    extra = STORAGE_EXTRAS.get(protocol.lower())
    if extra:
        hint = (
            f"Install it with pip install 'airflow-provider-zoho-attach[{extra}]' wherever the task "
            "runs; nothing was sent to Zoho."
        )
    else:
        hint = (
            f"Install the fsspec filesystem for {protocol}:// and the Airflow provider that registers "
            "it wherever the task runs; nothing was sent to Zoho."
        )
    return ZohoCRMInvalidRequestError(
        f"{argument}: the {protocol}:// filesystem is not installed ({error})",
        code="DESTINATION_ERROR",
        details={"argument": argument, "protocol": protocol, "extra": extra},
        hint=hint,
    )


def _is_object_storage_path(value: Any) -> bool:
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # pragma: no cover - airflow.sdk always has it on 3.x
        return False
    return isinstance(value, ObjectStoragePath)


def _is_directory_target(path: Path | ObjectStoragePath, raw: Any) -> bool:
    if isinstance(raw, str) and raw.rstrip().endswith(("/", os.sep)):
        return True
    try:
        return path.is_dir()
    except OSError:
        return False
