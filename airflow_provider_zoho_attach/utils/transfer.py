"""Moving file bytes safely: download targets, upload sources and a streaming multipart body.

Downloads are written to a temporary file and only become visible once complete and verified:
on the local filesystem the temporary file sits beside the destination and is hard-linked (or
renamed) into place atomically; for object storage (``s3://``, ``gs://``, ``memory://``...) it is
spooled in the local temp directory and copied once verified, through a temporary object beside
the target. A clash with an existing file keeps the existing one if it is identical, or picks a
deterministic name otherwise; same-named attachments of one run never share a name
(:class:`NameClaims`). Nothing partial is left behind: a temporary file is locked (``flock``) while
its download runs, and those a killed process left are removed by the next download into their
directory (:func:`remove_stale_temp_files`); uploads of a directory or glob never pick them up.

This module is the public face of the transfer code, which lives in four modules:

* :mod:`~airflow_provider_zoho_attach.utils.storage`: local paths and object-storage paths and URLs
  (:func:`to_storage_path`, :func:`is_url`), the check for a missing filesystem extra;
* :mod:`~airflow_provider_zoho_attach.utils.tempfiles`: temporary files, their locks, the sweep of
  stale ones, the mode of a new file;
* :mod:`~airflow_provider_zoho_attach.utils.downloads`: :class:`DownloadTarget`, :class:`FinalFile`,
  :class:`NameClaims`;
* :mod:`~airflow_provider_zoho_attach.utils.uploads`: :class:`UploadSource`, :class:`MultipartBody`,
  :func:`expand_sources`.

Import from here; every name is the defining module's own object. To replace a module-level value
in a test (``monkeypatch.setattr``), patch the module that defines it: that is where it is looked up.
"""

from __future__ import annotations

# __all__ is what it always was; every other name this module had before it was split is still
# importable from here (F401: imported for callers, not used here).
from airflow_provider_zoho_attach.utils.downloads import (  # noqa: F401
    _IN_FLIGHT,
    DownloadTarget,
    FinalFile,
    NameClaims,
    _digest,
    _directory_key,
    _exists,
    _exists_error,
    _link_into_place,
    _lookup_error,
    _same_local_file,
    _same_remote_file,
    _unwritable,
    choose_file_name,
)
from airflow_provider_zoho_attach.utils.storage import (  # noqa: F401
    CHUNK_SIZE,
    STORAGE_EXTRAS,
    _is_directory_target,
    _is_object_storage_path,
    _missing_filesystem,
    _require_filesystem,
    is_url,
    to_storage_path,
)
from airflow_provider_zoho_attach.utils.tempfiles import (  # noqa: F401
    _FALLBACK_UMASK,
    _SWEPT,
    _SWEPT_LOCK,
    _TEMP_PREFIX,
    _UMASK_LOCK,
    STALE_TEMP_AGE,
    _current_umask,
    _lock,
    _locked_temp_file,
    _still_named,
    is_temp_file_name,
    new_file_mode,
    remove_stale_temp_files,
)
from airflow_provider_zoho_attach.utils.uploads import (  # noqa: F401
    MultipartBody,
    Readable,
    UploadSource,
    _expand_one,
    _fileobj_size,
    _is_user_file,
    _NonClosing,
    _path_size,
    _seekable,
    _split_glob,
    expand_sources,
)

__all__ = [
    "CHUNK_SIZE",
    "DownloadTarget",
    "MultipartBody",
    "NameClaims",
    "UploadSource",
    "is_url",
    "to_storage_path",
]
