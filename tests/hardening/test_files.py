"""
Files: hostile names from Zoho stay inside the destination, a full or read-only disk fails cleanly,
and two downloads of one name into one directory both survive.

Hostile names go through the download OPERATOR, to a local directory and to object storage
(``memory://``). The full disk and the read-only destination are real tmpfs mounts when this
process may mount (root in a container), else simulated by making the writes fail.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError, ZohoCRMTransferError
from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator
from airflow_provider_zoho_attach.utils.filenames import MAX_NAME_BYTES

pytestmark = pytest.mark.integration

#: (id, name Zoho sends, the safe name it becomes). Names that clash get `` (<attachment id>)``.
HOSTILE: list[tuple[str, str, str]] = [
    ("traversal", "../../etc/passwd", "passwd"),
    ("deep-traversal", "../../../../../../tmp/evil.sh", "evil.sh"),
    ("absolute", "/etc/shadow", "shadow"),
    ("windows-traversal", "..\\..\\Windows\\win.ini", "win.ini"),
    ("windows-absolute", "C:\\Windows\\System32\\drivers\\etc\\hosts", "hosts"),
    ("unc-path", "\\\\server\\share\\x.txt", "x.txt"),
    ("home", "~/.ssh/authorized_keys", "authorized_keys"),
    ("reserved-con", "CON", "_CON"),
    ("reserved-nul-ext", "nul.txt", "_nul.txt"),
    ("reserved-com1", "COM1.log", "_COM1.log"),
    ("reserved-lpt-superscript", "LPT\u00b9.txt", "_LPT\u00b9.txt"),
    ("windows-forbidden", "a:b?c*.txt", "a_b_c_.txt"),
    ("angle-brackets", "<script>.html", "_script_.html"),
    ("nul-byte", "a\x00b.txt", "ab.txt"),
    ("control-chars", "bell\x07esc\x1b[31m.txt", "bellesc[31m.txt"),
    ("crlf", "line\r\nbreak.txt", "linebreak.txt"),
    ("bidi-override", "invoice\u202egnp.exe", "invoicegnp.exe"),
    ("long-1000", "x" * 1000 + ".pdf", "x" * 196 + ".pdf"),
    ("long-multibyte", "\u00e9" * 600 + ".txt", "\u00e9" * 98 + ".txt"),
    ("division-slash", "..\u2215..\u2215etc\u2215passwd", "passwd"),
    ("fullwidth-dots-slash", "\uff0e\uff0e\uff0fsecret.txt", "secret.txt"),
    ("fraction-slash", "a\u2044b.txt", "b.txt"),
    ("nfc", "caf\u00e9.txt", "caf\u00e9.txt"),
    ("nfd", "cafe\u0301.txt", "caf\u00e9.txt"),
    # Kept as typed (NFC): folding it (NFKC) made "Q1 ½" and "Q3 ½" one name.
    ("ligature-kept", "\ufb01le.txt", "\ufb01le.txt"),
    ("fraction-kept", "Q1 \u00bd budget.xlsx", "Q1 \u00bd budget.xlsx"),
    ("percent-encoded", "%2e%2e%2fescape.txt", "%2e%2e%2fescape.txt"),
    ("trailing-dots-spaces", "report.pdf. . ", "report.pdf"),
    ("only-dots", "...", "attachment-{id}"),
    ("dot", ".", "attachment-{id}"),
    ("dotdot", "..", "attachment-{id}"),
    ("dots-and-spaces", " . . ", "attachment-{id}"),
    ("empty", "", "attachment-{id}"),
]


def shown(name: str) -> str:
    """How the docs show a name: Python's ``ascii()`` (look-alikes and controls made visible)."""
    if len(name) > 60:
        stem, _, ext = name.rpartition(".")
        return f"{stem[0]!a} * {len(stem)} + {'.' + ext!a}"
    return ascii(name)


def _safe_component(name: str) -> None:
    assert name not in ("", ".", "..")
    assert not any(ch in name for ch in "/\\\x00")
    assert not any(ord(ch) < 32 for ch in name)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name == name.strip()
    assert not name.endswith(".")


def _seed(emu):
    record = emu.add_record("Deals")
    contents = {}
    ids = {}
    for index, (case, name, _) in enumerate(HOSTILE):
        data = f"{index}:{case}".encode()
        attachment = emu.add_attachment("Deals", record, name, data)
        contents[attachment] = data
        ids[case] = attachment
    return record, contents, ids


def _expected_names(ids, case, safe):
    """The name a hostile name becomes, or its de-duplicated twin."""
    attachment = ids[case]
    name = safe.format(id=attachment)
    stem, dot, ext = name.rpartition(".")
    twin = f"{stem} ({attachment}).{ext}" if dot and 0 < len(ext) <= 20 else f"{name} ({attachment})"
    return {name, twin}


def test_hostile_names_stay_inside_a_local_directory(zoho_emulator_connection, make_hook, context, tmp_path):
    emu = zoho_emulator_connection
    record, contents, ids = _seed(emu)
    destination = tmp_path / "jail" / "in"
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="download", module="Deals", record_id=record, destination=str(destination)
    )
    op.hook = make_hook()
    results = op.execute(context)

    assert len(results) == len(HOSTILE)
    jail = os.path.realpath(destination)
    by_id = {result["attachment_id"]: result for result in results}
    for case, _name, safe in HOSTILE:
        result = by_id[ids[case]]
        assert result["status"] == "downloaded"
        path = os.path.realpath(result["path"])
        assert os.path.dirname(path) == jail, (case, path)
        _safe_component(result["file_name"])
        assert result["file_name"] in _expected_names(ids, case, safe), (case, result["file_name"])
        assert Path(path).read_bytes() == contents[ids[case]]
    # Nothing else anywhere: no temp or part file, nothing written beside or above the destination.
    everything = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert everything == sorted(["jail", "jail/in", *(f"jail/in/{r['file_name']}" for r in results)])


def test_hostile_names_stay_inside_object_storage(
    zoho_emulator_connection, make_hook, context, memory_storage
):
    emu = zoho_emulator_connection
    record, contents, ids = _seed(emu)
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="download", module="Deals", record_id=record, destination="memory://bucket/in/"
    )
    op.hook = make_hook()
    temp_before = set(os.listdir(tempfile.gettempdir()))
    results = op.execute(context)

    assert len(results) == len(HOSTILE)
    keys = sorted(memory_storage.store)
    assert len(keys) == len(HOSTILE)
    for key in keys:
        assert key.startswith("/bucket/in/")
        _safe_component(key[len("/bucket/in/") :])
    by_id = {result["attachment_id"]: result for result in results}
    for case, _name, safe in HOSTILE:
        result = by_id[ids[case]]
        assert result["file_name"] in _expected_names(ids, case, safe), (case, result["file_name"])
        assert memory_storage.cat_file(f"/bucket/in/{result['file_name']}") == contents[ids[case]]
    # The local spool files are gone too.
    leftovers = [n for n in set(os.listdir(tempfile.gettempdir())) - temp_before if "zoho-download" in n]
    assert leftovers == []


# ---------------------------------------------------------------------- full and read-only disks


@contextlib.contextmanager
def _tmpfs(path: Path, options: str):
    """Mount a tmpfs at ``path`` (yield True), or yield False if this process may not mount."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    mounted = done is not None and done.returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10, check=False)


def _fail_writes(monkeypatch, code):
    """Simulate a disk that refuses data (ENOSPC) or any new file (EROFS) in the download path."""
    from airflow_provider_zoho_attach.utils import downloads, tempfiles

    if code == errno.EROFS:

        def mkstemp(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(tempfiles.tempfile, "mkstemp", mkstemp)
        return
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle):
            self._handle = handle

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self._handle, name)

    monkeypatch.setattr(downloads.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))


BIG = hashlib.sha256(b"big").digest() * (2 * 1024 * 1024 // 32)  # 2 MiB: more than the 1 MiB disk


def test_a_full_disk_fails_cleanly(zoho_emulator_connection, make_hook, context, tmp_path, monkeypatch):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "big.bin", BIG)
    disk = tmp_path / "full"
    with _tmpfs(disk, "size=1m") as mounted:
        if not mounted:
            _fail_writes(monkeypatch, errno.ENOSPC)
        hook = make_hook()
        with pytest.raises(ZohoCRMTransferError) as info:
            hook.download_attachment("Deals", record, attachment, disk)
        assert info.value.code == "DESTINATION_ERROR"
        assert "No space left on device" in str(info.value)
        assert "\n" not in str(info.value)
        assert os.listdir(disk) == []  # the temp file is gone
        # Not retried: a full disk stays full.
        assert emu.count(method="GET", path_contains=f"/Attachments/{attachment}") == 1

        # Through the operator: the task fails with the same reason, and nothing is left either.
        op = ZohoCRMDownloadAttachmentsOperator(
            task_id="download", module="Deals", record_id=record, destination=str(disk)
        )
        op.hook = hook
        with pytest.raises(ZohoCRMError) as task_error:
            op.execute(context)
        assert "DESTINATION_ERROR" in str(task_error.value)
        assert os.listdir(disk) == []


def test_a_read_only_destination_fails_before_downloading(
    zoho_emulator_connection, make_hook, tmp_path, monkeypatch
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "doc.bin", b"data")
    disk = tmp_path / "ro"
    with _tmpfs(disk, "ro,size=1m") as mounted:
        if not mounted:
            _fail_writes(monkeypatch, errno.EROFS)
        hook = make_hook()
        with pytest.raises(ZohoCRMTransferError) as info:
            hook.download_attachment("Deals", record, attachment, disk)
        assert info.value.code == "DESTINATION_ERROR"
        assert "Read-only file system" in str(info.value)
        assert os.listdir(disk) == []
        # The destination is checked before the request: no byte was fetched.
        assert emu.count(method="GET", path_contains="/Attachments/") == 0


# ---------------------------------------------------------------------- concurrent downloads


def test_two_concurrent_downloads_of_one_name_both_survive(zoho_emulator_connection, make_hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    first = emu.add_attachment("Deals", record, "same.pdf", b"%PDF first")
    second = emu.add_attachment("Deals", record, "same.pdf", b"%PDF second, longer")
    hook = make_hook()
    hook.get_access_token()
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def download(attachment):
        try:
            results[attachment] = hook.download_attachment("Deals", record, attachment, tmp_path)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=download, args=(a,), daemon=True) for a in (first, second)]
    emu.pause()  # both requests in flight at once, then both bodies written at once
    try:
        for thread in threads:
            thread.start()
        assert emu.wait_in_flight(2, timeout=10)
    finally:
        emu.resume()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert sorted(os.listdir(tmp_path)) == sorted(
        [
            "same.pdf",
            f"same ({first}).pdf" if results[first]["file_name"] != "same.pdf" else f"same ({second}).pdf",
        ]
    )
    for attachment, data in ((first, b"%PDF first"), (second, b"%PDF second, longer")):
        assert Path(results[attachment]["path"]).read_bytes() == data
    assert {r["file_name"] for r in results.values()} == set(os.listdir(tmp_path))
