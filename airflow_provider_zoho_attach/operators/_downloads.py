"""The download operator's helpers: the files it picked, their names, its progress and its destination."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_zoho_attach.utils.progress import TransferProgress
    from airflow_provider_zoho_attach.utils.transfer import DownloadTarget

__all__ = ["Item", "download_progress", "render_placeholders", "reserve_names"]

#: A file to download: its id, its record (``None`` for a bare id), its field (``None``: an attachment).
Item = tuple[str, Mapping[str, Any] | None, str | None]


def reserve_names(target: DownloadTarget, chosen: list[Item]) -> None:
    """
    Reserve the names of same-named files before the threads race, so every run lays them out alike.

    The lowest id takes the plain name, the others their own "name (<id>).ext", so a re-run finds
    them unchanged. (Bare ids have no name yet: first come, first served.)

    :param target: the run's download target, holding its name claims.
    :param chosen: the attachments and field files to download.
    """
    from airflow_provider_zoho_attach.utils.transfer import choose_file_name

    for ident, record, _field in sorted(
        chosen, key=lambda item: (item[2] is not None, len(item[0]), item[0])
    ):
        if record is not None and record.get("File_Name"):
            target.reserve(choose_file_name(None, str(record["File_Name"]), ident), tag=ident)


def download_progress(log: Any, chosen: list[Item]) -> TransferProgress:
    """
    The progress of a run's downloads: its files, and its bytes if every record tells its size.

    :param log: where to log.
    :param chosen: the attachments and field files to download.
    """
    from airflow_provider_zoho_attach.utils.progress import TransferProgress
    from airflow_provider_zoho_attach.utils.protocol import attachment_size

    sizes = [attachment_size(record) if record is not None else None for _, record, _ in chosen]
    return TransferProgress(
        log,
        verb="downloaded",
        total_files=len(chosen),
        total_bytes=sum(s for s in sizes if s is not None) if None not in sizes else None,
    )


def render_placeholders(destination: Any, *, module: str, record_id: str) -> Any:
    if isinstance(destination, str):
        return destination.replace("{module}", module).replace("{record_id}", record_id)
    return destination
