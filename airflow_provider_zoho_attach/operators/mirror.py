"""The incremental mirror of the attachments of many records: only what changed, within a credit budget."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_zoho_attach.operators.base import ZohoCRMHookMixin
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from concurrent.futures import Future

    from airflow.sdk import Context

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook
    from airflow_provider_zoho_attach.results import MirrorSummary
    from airflow_provider_zoho_attach.utils.mirror import (
        CreditBudget,
        EntryKey,
        Fetch,
        ManifestEntry,
        RecordPlan,
        RemoteFile,
    )
    from airflow_provider_zoho_attach.utils.mirror_storage import CheckpointWriter, MirrorStore
    from airflow_provider_zoho_attach.utils.progress import MirrorProgress
    from airflow_provider_zoho_attach.utils.selection import Paging, RecordSelection

__all__ = ["ZohoCRMMirrorAttachmentsOperator"]


class ZohoCRMMirrorAttachmentsOperator(ZohoCRMHookMixin, BaseOperator):
    """
    Mirror the attachments of the selected records into a directory or object storage, incrementally.

    Records are selected by exactly one of ``records`` (ids), ``where`` (COQL) or ``criteria``
    (search), or none (every record), optionally ``modified_since``. Each record's attachments
    are listed (records in parallel, up to ``max_concurrency``); a file goes to
    ``<destination>/<module>/<record_id>/<safe name>`` and is downloaded only if it is new or
    changed (attachment id, ``Modified_Time`` and ``Size`` against the manifest) or missing from
    the destination; the rest costs no byte. ``<destination>/manifest.jsonl`` has one JSON line
    per file (module, record id, attachment id, name, path, size, SHA-256, Zoho's times, status,
    when mirrored) and is replaced atomically at the end. Each committed file is checkpointed at
    once (``manifest.jsonl.checkpoint``), so a killed, failed or budget-stopped run resumes without
    downloading it again.

    An attachment gone from a listed record becomes a tombstone (``status: "deleted"``); so do the
    attachments of records a complete selection (no ``modified_since``, not capped) no longer
    has. With ``delete_missing=True`` their files are removed; nothing the manifest does not own is
    ever touched.

    .. seealso::
        :ref:`howto/operator:ZohoCRMMirrorAttachmentsOperator`

    :param module: the module API name (``Deals``) or docs name (``deals``). (templated)
    :param records: explicit record ids (a list, a comma-separated string, or a find task's
        output). (templated)
    :param where: a COQL condition such as ``"Stage = 'Closed Won'"``. (templated)
    :param criteria: a search criteria such as ``"(Stage:equals:Closed Won)"`` (2,000 records at
        most). (templated)
    :param modified_since: only records modified after this time (an attachment does not change
        its record's ``Modified_Time``: use it for records whose fields change with their files).
        (templated)
    :param destination: a local directory, a ``file://`` or object-storage URL, or an
        ``ObjectStoragePath``. (templated)
    :param include_field_files: also mirror the files of file-upload and image-upload fields:
        ``True`` for all, or a field's API name or a list of them. (templated)
    :param delete_missing: remove the files of tombstoned attachments. (templated)
    :param max_credits: stop before a call would take the task's API credits past this number,
        with ``CREDIT_BUDGET_EXCEEDED``; the next run resumes. (templated)
    :param dry_run: list and plan only: log records, list calls, files and bytes to fetch, and
        credits; write nothing. (templated, as the attribute ``is_dry_run``)
    :param max_concurrency: records processed at once; default: the connection's.
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    :return: ``{"records", "attachments", "downloaded", "unchanged", "deleted", "bytes",
        "credits", "manifest", ...}`` (see :class:`~airflow_provider_zoho_attach.results.MirrorSummary`).
    """

    template_fields: Sequence[str] = (
        "zoho_conn_id",
        "module",
        "records",
        "where",
        "criteria",
        "modified_since",
        "destination",
        "include_field_files",
        "delete_missing",
        "max_credits",
        # BaseOperator has a dry_run() method: the argument is kept as is_dry_run.
        "is_dry_run",
    )

    def __init__(
        self,
        *,
        module: str,
        destination: Any,
        records: Any = None,
        where: str | None = None,
        criteria: str | None = None,
        modified_since: Any = None,
        include_field_files: bool | str | Sequence[str] = False,
        delete_missing: bool | str = False,
        max_credits: int | str | None = None,
        dry_run: bool | str = False,
        max_concurrency: int | None = None,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.module = module
        self.records = records
        self.where = where
        self.criteria = criteria
        self.modified_since = modified_since
        self.destination = destination
        self.include_field_files = include_field_files
        self.delete_missing = delete_missing
        self.max_credits = max_credits
        self.is_dry_run = dry_run
        self.max_concurrency = max_concurrency
        self.zoho_conn_id = zoho_conn_id

    def execute(self, context: Context) -> MirrorSummary:
        options = self._options()
        run = _MirrorRun(self.hook, self.log, options)
        try:
            return run.run()
        finally:
            if not options.dry_run:
                # Lineage: the records it read, and what it wrote (output statistics: files, bytes).
                records = {
                    (e["module"], e["record_id"]) for e in run.entries.values() if e["status"] == "present"
                }
                self.lineage.mirrored(
                    options.store.root,
                    files=run.counts["downloaded"],
                    size=run.counts["bytes"],
                    records=sorted(records),
                )

    def _options(self) -> _Options:
        """Every argument checked (after templating), before any request."""
        from airflow_provider_zoho_attach.utils.mirror_storage import MirrorStore
        from airflow_provider_zoho_attach.utils.selection import RecordSelection
        from airflow_provider_zoho_attach.utils.validation import (
            require_value,
            validate_count,
            validate_field_choice,
        )

        selection = RecordSelection.build(
            self.module,
            records=self.records,
            where=self.where,
            criteria=self.criteria,
            modified_since=self.modified_since,
        )
        require_value(self.destination, argument="destination", expected="a directory or object-storage URL")
        return _Options(
            selection=selection,
            store=MirrorStore(self.destination),
            fields=validate_field_choice(self.include_field_files),
            delete_missing=_flag(self.delete_missing, "delete_missing"),
            dry_run=_flag(self.is_dry_run, "dry_run"),
            max_credits=validate_count(self.max_credits, argument="max_credits", minimum=1, optional=True),
        )


def _flag(value: Any, argument: str) -> bool:
    from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
    from airflow_provider_zoho_attach.utils.validation import parse_flag

    flag = False if value is None else parse_flag(value)
    if flag is None:
        raise ZohoCRMInvalidRequestError.for_argument(argument, value, "True or False")
    return flag


@dataclass(frozen=True)
class _Options:
    selection: RecordSelection
    store: MirrorStore
    #: File fields to mirror: ``[]`` none, ``None`` all, else these API names.
    fields: list[str] | None
    delete_missing: bool
    dry_run: bool
    max_credits: int | None


@dataclass
class _RecordResult:
    """What a worker did for one record: its plan (``None`` if the listing failed), files, failures."""

    record_id: str
    plan: RecordPlan | None
    done: list[ManifestEntry] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


class _MirrorRun:
    """One run of the mirror: the manifest in memory, the workers, the counts."""

    def __init__(self, hook: ZohoCRMHook, log: Any, options: _Options) -> None:
        from airflow_provider_zoho_attach.utils.mirror import CreditBudget
        from airflow_provider_zoho_attach.utils.progress import MirrorProgress

        self.hook = hook
        self.log = log
        self.options = options
        self.module = options.selection.module
        self.store = options.store
        self.budget: CreditBudget = CreditBudget(hook.credits, options.max_credits)
        # The budget reserves each call before it starts; the hook's own limit also stops a retry
        # that Zoho forces on the last call the budget allowed.
        hook.credits.limit = options.max_credits
        self.progress: MirrorProgress = MirrorProgress()
        self.now = _utc_now()
        self.entries: dict[EntryKey, ManifestEntry] = {}
        #: The manifest's lines of the module by record, then attachment id: read-only for the workers.
        self.known: dict[str, dict[str, ManifestEntry]] = {}
        #: The files under ``<module>/`` by record: path -> size.
        self.inventory: dict[str, dict[str, int]] = {}
        self.checkpoint: CheckpointWriter | None = None
        self.counts = dict.fromkeys(
            (
                "attachments",
                "downloaded",
                "unchanged",
                "deleted",
                "bytes",
                "removed",
                "to_fetch",
                "bytes_to_fetch",
            ),
            0,
        )
        self.failures: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ the run

    def run(self) -> MirrorSummary:
        """Load the state, mirror every selected record, then write the manifest (or the plan)."""
        self.log.info(
            "Mirroring %s into %s%s",
            self.options.selection.describe(),
            self.store.root,
            " (dry run: nothing is written)" if self.options.dry_run else "",
        )
        self._load()
        if not self.options.dry_run:
            self.checkpoint = self.store.open_checkpoint()
        try:
            selected, capped = self._mirror_selection()
        finally:
            if self.checkpoint is not None:
                self.checkpoint.close()
        self._tombstone_unselected(selected, capped)
        if self.options.dry_run:
            return self._dry_run_summary(selected, capped)
        self._remove_missing()
        self.store.write_manifest(self.entries.values())
        self.store.clear_checkpoint()
        self.log.info("%s", self.progress.line())
        summary = self._summary(selected, capped)
        self.log.info("Mirror done: %s", summary)
        if self.failures:
            from airflow_provider_zoho_attach.utils.outcomes import summary_error

            total = len(self.failures) + self.counts["downloaded"] + self.counts["unchanged"]
            raise summary_error(
                "mirror", self.failures, total, done={"downloaded": self.counts["downloaded"]}
            )
        return summary

    def _load(self) -> None:
        """The manifest, plus what a stopped run checkpointed whose file is there whole."""
        self.entries = self.store.read_manifest()
        resumed = 0
        for key, entry in self.store.read_checkpoint().items():
            if entry["status"] == "present" and self.store.verify(entry):
                self.entries[key] = entry
                resumed += 1
        if resumed:
            self.log.info("Resuming: %d file(s) from the checkpoint of an earlier run are kept", resumed)
        for (module, record_id, attachment_id), entry in self.entries.items():
            if module == self.module:
                self.known.setdefault(record_id, {})[attachment_id] = entry
        for rel, size in self.store.inventory(self.module).items():
            parts = rel.split("/")
            if len(parts) == 3:
                self.inventory.setdefault(parts[1], {})[rel] = size

    def _mirror_selection(self) -> tuple[set[str], bool]:
        """List and mirror every selected record, ``max_concurrency`` at once; the ids, and ``capped``."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        fields = self._file_fields()
        rows = self.options.selection.iter_rows(self.hook)
        workers = max(1, self.hook.settings.max_concurrency)
        selected: set[str] = set()
        pending: set[Future[_RecordResult]] = set()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoho-mirror")
        try:
            for record_id in self._record_ids(rows):
                if record_id in selected:
                    continue
                selected.add(record_id)
                pending.add(pool.submit(self._mirror_record, record_id, fields))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    self._collect(done)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                self._collect(done)
        finally:
            # On a budget stop or a kill: no new record starts, the calls in flight finish.
            pool.shutdown(wait=True, cancel_futures=True)
        return selected, rows.capped

    def _record_ids(self, rows: Any) -> Iterator[str]:
        from airflow_provider_zoho_attach.utils.validation import validate_id

        selection = self.options.selection
        what = f"read the selection of {self.module}"
        paging = selection.paging()
        if selection.kind == "records":
            calls = -(-len(selection.records) // paging.rows) * paging.cost if selection.needs_calls() else 0
            with self.budget.spend(calls, "selection", what):
                rows = list(rows)
            yield from (validate_id(row["id"]) for row in rows)
            return
        for row in self._metered(rows, paging, "selection", what):
            yield validate_id(row["id"])
            self._tick()

    def _metered(self, items: Iterable[Any], paging: Paging, kind: str, what: str) -> Iterator[Any]:
        """The items of a paged listing, each page's call reserved in the budget before it is sent."""
        iterator = iter(items)
        count = 0
        while True:
            cost = paging.call_before(count)
            try:
                if cost is None:
                    item = next(iterator)
                else:
                    with self.budget.spend(cost, kind, what):
                        item = next(iterator)
            except StopIteration:
                return
            count += 1
            yield item

    def _file_fields(self) -> list[str]:
        """The file fields to mirror (one metadata call, cached by the hook), ``[]`` for none."""
        wanted = self.options.fields
        if wanted == []:
            return []
        with self.budget.spend(1, "listing", f"read the file fields of {self.module}"):
            known = self.hook.get_file_fields(self.module)
        names = list(known) if wanted is None else wanted
        self.log.info("Also mirroring the file fields of %s: %s", self.module, ", ".join(names) or "none")
        return names

    # ------------------------------------------------------------------ one record (in a worker)

    def _mirror_record(self, record_id: str, fields: list[str]) -> _RecordResult:
        from airflow_provider_zoho_attach.exceptions import ZohoCRMCreditBudgetError, ZohoCRMError
        from airflow_provider_zoho_attach.utils.mirror import plan_record

        try:
            remote = self._listing(record_id, fields)
        except ZohoCRMCreditBudgetError:
            raise
        except ZohoCRMError as error:
            self.log.error("Listing %s/%s failed: %s", self.module, record_id, error)
            failure = {
                "attachment_id": None,
                "file_name": f"{self.module}/{record_id}",
                "error": error.to_dict(),
            }
            return _RecordResult(record_id, None, failures=[failure])
        known = self.known.get(record_id, {})
        plan = plan_record(self.module, record_id, remote, known, self.inventory.get(record_id, {}))
        result = _RecordResult(record_id, plan)
        self.progress.add(records=1)
        if not self.options.dry_run:
            for item in plan.fetch:
                self._fetch(item, record_id, result)
        return result

    def _listing(self, record_id: str, fields: list[str]) -> list[RemoteFile]:
        from airflow_provider_zoho_attach.utils.mirror import remote_attachments, remote_field_files
        from airflow_provider_zoho_attach.utils.protocol import MAX_PER_PAGE
        from airflow_provider_zoho_attach.utils.selection import Paging

        what = f"list the attachments of {self.module}/{record_id}"
        pages = Paging(MAX_PER_PAGE, 1, MAX_PER_PAGE, 1)
        listing = self.hook.iter_attachments(self.module, record_id)
        records = list(self._metered(listing, pages, "listing", what))
        remote = remote_attachments(records)
        if fields:
            with self.budget.spend(1, "listing", f"read the file fields of {self.module}/{record_id}"):
                items = self.hook.list_field_files(self.module, record_id, fields)
            remote += remote_field_files(items)
        return remote

    def _fetch(self, item: Fetch, record_id: str, result: _RecordResult) -> None:
        """Download one file to its planned path, checkpoint it; a failure is noted, a budget stop raised."""
        from airflow_provider_zoho_attach.exceptions import ZohoCRMCreditBudgetError, ZohoCRMError
        from airflow_provider_zoho_attach.utils.mirror import present_entry

        remote = item.remote
        what = f"download {remote.attachment_id} of {self.module}/{record_id}"
        try:
            path, done = self._download_to_its_path(item, record_id, what)
        except ZohoCRMCreditBudgetError:
            raise
        except ZohoCRMError as error:
            self.log.error("%s failed: %s", what, error)
            result.failures.append(
                {"attachment_id": remote.attachment_id, "file_name": remote.name, "error": error.to_dict()}
            )
            return
        entry = present_entry(
            self.module,
            record_id,
            remote,
            path=path,
            size=done["size"],
            sha256=done["sha256"],
            now=self.now,
        )
        assert self.checkpoint is not None
        self.checkpoint.append(entry)
        result.done.append(entry)
        self.progress.add(downloaded=1, bytes=done["size"])
        self._tick()

    def _download_to_its_path(self, item: Fetch, record_id: str, what: str) -> tuple[str, Any]:
        """
        Download one file to its planned path: ``(path, result)``.

        A path that holds a file the manifest does not own (``item.fallback``) is taken over only
        if the file holds these very bytes; otherwise the file goes to the fallback (one more call).
        """
        from airflow_provider_zoho_attach.exceptions import ZohoCRMTransferError

        if item.fallback is not None:
            try:
                with self.budget.spend(1, "download", what):
                    return item.path, self._download(item, record_id, item.path, overwrite=False)
            except ZohoCRMTransferError as error:
                if error.code != "DESTINATION_EXISTS":
                    raise
            self.log.info("%s is another file: %s goes to %s", item.path, what, item.fallback)
        path = item.fallback or item.path
        with self.budget.spend(1, "download", what):
            # The plan chose a path that is free or this file's own: replacing it is what a mirror does.
            return path, self._download(item, record_id, path, overwrite=True)

    def _download(self, item: Fetch, record_id: str, path: str, *, overwrite: bool) -> Any:
        target = self.store.path(path)
        remote = item.remote
        options: dict[str, Any] = {
            "overwrite": overwrite,
            "directory": False,
            "file_name": remote.name or None,
        }
        if remote.field is None:
            return self.hook.download_attachment(
                self.module, record_id, remote.attachment_id, target, **options
            )
        return self.hook.download_field_file(
            self.module, record_id, remote.attachment_id, target, field=remote.field, **options
        )

    # ------------------------------------------------------------------ the main thread

    def _collect(self, done: Iterable[Future[_RecordResult]]) -> None:
        """Fold finished records into the manifest (a budget stop or kill is raised from here)."""
        from airflow_provider_zoho_attach.utils.mirror import entry_key, tombstone

        for future in done:
            result = future.result()
            self.failures += result.failures
            plan = result.plan
            if plan is None:
                continue
            self.counts["to_fetch"] += len(plan.fetch)
            self.counts["bytes_to_fetch"] += plan.bytes_to_fetch
            self.counts["attachments"] += len(plan.fetch) + len(plan.unchanged)
            self.counts["unchanged"] += len(plan.unchanged)
            self.progress.add(unchanged=len(plan.unchanged))
            for entry in result.done:
                self.entries[entry_key(entry)] = entry
                self.counts["downloaded"] += 1
                self.counts["bytes"] += entry["size"]
            for entry in plan.gone:
                self.entries[entry_key(entry)] = tombstone(entry, now=self.now)
                self.counts["deleted"] += 1
        self._tick()

    def _tombstone_unselected(self, selected: set[str], capped: bool) -> None:
        """A complete selection is the mirror's whole scope: files of records it no longer has are gone."""
        from airflow_provider_zoho_attach.utils.mirror import entry_key, out_of_selection, tombstone

        if not self.options.selection.complete or capped:
            return
        for entry in out_of_selection(self.entries.values(), self.module, selected):
            self.entries[entry_key(entry)] = tombstone(entry, now=self.now)
            self.counts["deleted"] += 1

    def _remove_missing(self) -> None:
        """``delete_missing``: remove the tombstones' files that the manifest owns, and only those."""
        from airflow_provider_zoho_attach.utils.mirror import removable

        if not self.options.delete_missing:
            return
        owned: dict[str, str] = {}
        for entry in self.entries.values():
            owned[entry["path"].casefold()] = (
                entry["attachment_id"] if entry["path"].casefold() not in owned else ""
            )
        existing = {rel: size for files in self.inventory.values() for rel, size in files.items()}
        for entry in self.entries.values():
            # Size first (no I/O), then the bytes: a file put there since the mirror's own is kept.
            if (
                entry["module"] == self.module
                and removable(entry, existing, owned)
                and self.store.verify(entry)
            ):
                self.store.remove(entry["path"])
                self.counts["removed"] += 1
        if self.counts["removed"]:
            self.log.info("Removed %d file(s) of attachments gone from Zoho", self.counts["removed"])

    def _tick(self) -> None:
        line = self.progress.due()
        if line is not None:
            self.log.info("%s", line)

    # ------------------------------------------------------------------ results

    def _summary(self, selected: set[str], capped: bool) -> MirrorSummary:
        counts = self.counts
        summary: MirrorSummary = {
            "records": len(selected),
            "attachments": counts["attachments"],
            "downloaded": counts["downloaded"],
            "unchanged": counts["unchanged"],
            "deleted": counts["deleted"],
            "bytes": counts["bytes"],
            "credits": self.hook.credits.used,
            "manifest": str(self.store.manifest),
            "removed": counts["removed"],
            "failed": len(self.failures),
            "capped": capped,
            "dry_run": self.options.dry_run,
        }
        return summary

    def _dry_run_summary(self, selected: set[str], capped: bool) -> MirrorSummary:
        """Log what a real run would do, and return it; nothing was written."""
        fetch, size = self.counts["to_fetch"], self.counts["bytes_to_fetch"]
        spent = self.hook.credits.used
        listing = self.budget.counts["listing"]
        self.log.info(
            "Dry run: %d record(s), %d list call(s); %d file(s) to download (%d bytes), %d unchanged, "
            "%d gone; credits: %d spent now (selection and listing), a real run needs about %d "
            "(%d + %d downloads)%s",
            len(selected),
            listing,
            fetch,
            size,
            self.counts["unchanged"],
            self.counts["deleted"],
            spent,
            spent + fetch,
            spent,
            fetch,
            "" if self.options.max_credits is None else f"; max_credits={self.options.max_credits}",
        )
        summary = self._summary(selected, capped)
        summary.update({"to_download": fetch, "bytes_to_download": size, "estimated_credits": spent + fetch})
        return summary


def _utc_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(microsecond=0).isoformat()
