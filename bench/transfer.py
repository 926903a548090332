"""2. Transfer speed and memory: the hook against plain ``requests`` and the official SDK."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench._common import (
    KIB,
    MIB,
    Context,
    EmulatorProcess,
    Section,
    Table,
    Target,
    ratio,
    run_worker,
    size_label,
)

TITLE = "Transfer speed and memory"
MODULE = "Deals"
#: Zoho refuses attachments over 100 MB, and so does the hook (before sending anything).
ZOHO_MAX_UPLOAD = 100 * MIB
MEMORY_LIMIT_MIB = 32
THROUGHPUT_FLOOR = 0.9
CLIENT_NAMES = {
    "provider": "provider (hook)",
    "requests": "plain requests",
    "requests-sha256": "requests + SHA-256",
    "requests-files": "requests files=",
    "sdk": "official SDK",
}
UPLOAD_ONLY = {"requests-files"}


def _make_file(path: Path, size: int) -> Path:
    block = os.urandom(MIB)
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            part = block[: min(MIB, size - written)]
            handle.write(part)
            written += len(part)
    return path


def _reps(size: int, quick: bool) -> int:
    if size <= MIB:
        return 6 if quick else 20
    if size <= 64 * MIB:
        return 2 if quick else 3
    return 2


def _sha256_speed() -> float:
    """SHA-256 throughput of this machine, in MiB/s (best of three over 64 MiB)."""
    import hashlib
    import time

    block = os.urandom(MIB)
    best = float("inf")
    for _ in range(3):
        digest = hashlib.sha256()
        started = time.perf_counter()
        for _ in range(64):
            digest.update(block)
        best = min(best, time.perf_counter() - started)
    return 64 / best


def run(ctx: Context) -> Section:
    sha256_speed = _sha256_speed()
    downloads = [MIB, 16 * MIB] if ctx.quick else [MIB, 64 * MIB, 512 * MIB]
    uploads = [MIB, 16 * MIB] if ctx.quick else [MIB, 64 * MIB, ZOHO_MAX_UPLOAD]
    sources = ctx.shm / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    warm = _make_file(sources / "warm.bin", 64 * KIB)
    files = [{"key": "warm", "record": "down", "file_name": "warm.bin", "path": str(warm)}]
    for size in downloads:
        path = _make_file(sources / f"download-{size}.bin", size)
        files.append({"key": str(size), "record": "down", "file_name": path.name, "path": str(path)})
    upload_paths = {size: _make_file(sources / f"upload-{size}.bin", size) for size in uploads}
    spec = {
        "storage_dir": str(ctx.shm),
        "config": {"token_creation_limit": 1000},
        "files": files,
        "records": [{"record": "up"}],
    }
    with EmulatorProcess(spec) as emulator:
        # Only the download sources are needed by the emulator; free the memory of the copies.
        for item in files[1:]:
            os.unlink(item["path"])
        jobs: dict[str, list[dict[str, Any]]] = {}
        for client in CLIENT_NAMES:
            jobs[client] = []
            if client not in UPLOAD_ONLY:
                jobs[client] += [
                    {
                        "op": "download",
                        "size": s,
                        "attachment_id": emulator.info["files"][str(s)],
                        "reps": _reps(s, ctx.quick),
                    }
                    for s in downloads
                ]
            jobs[client] += [
                {"op": "upload", "size": s, "path": str(upload_paths[s]), "reps": _reps(s, ctx.quick)}
                for s in uploads
            ]
        workdir = ctx.shm / "transfers"
        workdir.mkdir(exist_ok=True)
        worker_spec = {
            "clients": list(CLIENT_NAMES),
            "url": emulator.url,
            "client_id": emulator.info["client_id"],
            "client_secret": emulator.info["client_secret"],
            "refresh_token": emulator.info["refresh_token"],
            "module": MODULE,
            "download_record": emulator.info["records"]["down"],
            "upload_record": emulator.info["records"]["up"],
            "warm_attachment": emulator.info["files"]["warm"],
            "warm_path": str(warm),
            "workdir": str(workdir),
            "jobs": jobs,
            "rounds": 2 if ctx.quick else 4,
        }
        report = run_worker("bench._transfer_worker", worker_spec, timeout=1200, env=emulator.env)
        results = report["results"]
    for result in (r for rs in results.values() for r in rs):
        if "error" in result:
            raise RuntimeError(f"transfer {result['op']} {result['size']}: {result['error']}")
        result["best"] = min(result["times"])
        result["mib_s"] = result["size"] / MIB / result["best"]
        # The larger of the peak seen from outside (wait4) and the child's own VmHWM: the kernel's
        # two counters can differ by a few pages.
        peak = max(result["maxrss_kib"], result["hwm_kib"])
        result["growth_mib"] = max(0.0, (peak - result["baseline_kib"]) / 1024)
    section = _section(ctx, results, downloads, uploads)
    section.data["sha256_mib_s"] = sha256_speed
    section.analysis = _analysis(section, results, downloads, uploads)
    return section


def _find(results: dict[str, list[dict[str, Any]]], client: str, op: str, size: int) -> dict[str, Any] | None:
    return next((r for r in results.get(client, []) if r["op"] == op and r["size"] == size), None)


def _section(
    ctx: Context, results: dict[str, list[dict[str, Any]]], downloads: list[int], uploads: list[int]
) -> Section:
    speed_rows, memory_rows, targets = [], [], []
    plan = [("download", s, tuple(c for c in CLIENT_NAMES if c not in UPLOAD_ONLY)) for s in downloads]
    plan += [("upload", s, tuple(CLIENT_NAMES)) for s in uploads]
    for op, size, clients in plan:
        cells = {c: _find(results, c, op, size) for c in clients}
        ours, plain = cells["provider"], cells["requests"]
        if ours is None or plain is None:
            raise RuntimeError(f"no result for {op} {size_label(size)}")
        speed = ours["mib_s"] / plain["mib_s"]
        speed_rows.append(
            [
                f"{op} {size_label(size)}",
                *(
                    f"{cells[c]['mib_s']:.0f}" if cells.get(c) else "\\-"  # type: ignore[index]
                    for c in CLIENT_NAMES
                ),
                ratio(speed),
                ratio(ours["mib_s"] / cells["requests-sha256"]["mib_s"]),  # type: ignore[index]
                str(ours["reps"]),
            ]
        )
        memory_rows.append(
            [
                f"{op} {size_label(size)}",
                *(
                    f"{cells[c]['growth_mib']:.1f}" if cells.get(c) else "\\-"  # type: ignore[index]
                    for c in CLIENT_NAMES
                ),
            ]
        )
    for op, sizes in (("download", downloads), ("upload", uploads)):
        for baseline, label in (("requests", "plain requests"), ("requests-sha256", "requests + SHA-256")):
            ratios = {
                s: _find(results, "provider", op, s)["mib_s"] / _find(results, baseline, op, s)["mib_s"]  # type: ignore[index]
                for s in sizes
            }
            worst_size = min(ratios, key=ratios.__getitem__)
            targets.append(
                Target(
                    f"{op}: throughput vs {label}"
                    + (" (the issue's baseline)" if baseline == "requests" else " (same verification)"),
                    f">= {THROUGHPUT_FLOOR}x at every size",
                    ", ".join(f"{size_label(s)} {ratio(r)}" for s, r in ratios.items()),
                    ratios[worst_size] >= THROUGHPUT_FLOOR,
                    ratios[worst_size],
                )
            )
    for op, sizes in (("download", downloads), ("upload", uploads)):
        growths = [_find(results, "provider", op, s)["growth_mib"] for s in sizes]  # type: ignore[index]
        worst = max(growths)
        targets.append(
            Target(
                f"{op}: peak RSS growth, any size",
                f"< {MEMORY_LIMIT_MIB} MiB",
                f"{worst:.1f} MiB at most ({', '.join(f'{g:.1f}' for g in growths)})",
                worst < MEMORY_LIMIT_MIB,
                worst,
            )
        )
    header = ["transfer", *CLIENT_NAMES.values()]
    tables = [
        Table(
            "Throughput in MiB/s (best of the repetitions), and the hook against plain requests",
            [*header, "hook / requests", "hook / requests + SHA-256", "repetitions"],
            speed_rows,
        ),
        Table(
            "Peak RSS growth in MiB: the process's peak (seen from outside) minus its RSS before the "
            "transfer",
            header,
            memory_rows,
        ),
    ]
    section = Section(
        key="transfer",
        title=TITLE,
        intro=(
            "The emulator runs in its own process and serves files from ``/dev/shm`` (``sendfile``), so "
            "neither a disk nor the server's Python shares the client's process. Each client imports its "
            "library and gets a token once; then every measurement runs in a child forked for it, which "
            "does one 64 KiB warm-up transfer of the same kind, resets its peak RSS "
            "(``/proc/self/clear_refs``), notes its RSS, and runs the timed transfers into ``/dev/shm``. "
            "The parent reads the child's peak RSS from outside (``os.wait4``); growth is that peak minus "
            "the RSS noted before the first timed transfer.\n\n"
            "*Plain requests* streams a GET into a file in 1 MiB chunks, and uploads a hand-built "
            "multipart body streamed from the file with a ``Content-Length``: the least work a client "
            "can do, so it is the baseline. *requests files=* is ``requests``' own multipart upload, "
            "what most code writes. The hook does more than either: it writes to a temporary file, "
            "checks the length, hashes (SHA-256) and renames atomically; uploads hash on the way. The "
            "official SDK downloads with ``requests.get`` (no streaming) and writes its ``StreamWrapper`` "
            "as Zoho's samples do; it uploads with ``files=``.\n\n"
            "Uploads stop at 100 MiB: Zoho refuses attachments over 100 MB, and the hook refuses them "
            "before sending a byte, so a 512 MiB upload is measured as a download only."
        ),
        tables=tables,
        targets=targets,
        data={"results": results},
    )
    section.plots = [_plot(ctx, results, downloads, uploads)]
    return section


def _plot(
    ctx: Context, results: dict[str, list[dict[str, Any]]], downloads: list[int], uploads: list[int]
) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {
        "provider": ("tab:blue", "o", "-"),
        "requests": ("tab:orange", "s", "--"),
        "requests-sha256": ("tab:green", "^", ":"),
        "requests-files": ("tab:purple", "D", "-."),
        "sdk": ("tab:red", "v", "-"),
    }
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
    for axis, op, sizes in ((axes[0], "download", downloads), (axes[1], "upload", uploads)):
        for client, label in CLIENT_NAMES.items():
            points = [(s / MIB, r["growth_mib"]) for s in sizes if (r := _find(results, client, op, s))]
            if points:
                color, marker, line = styles[client]
                axis.plot(*zip(*points, strict=True), color=color, marker=marker, linestyle=line, label=label)
        axis.axhline(MEMORY_LIMIT_MIB, color="grey", linestyle="--", linewidth=1, label="target (32 MiB)")
        axis.set_xscale("log", base=2)
        axis.set_xticks([s / MIB for s in sizes], [f"{s // MIB}" for s in sizes])
        axis.minorticks_off()
        axis.set_yscale("symlog", linthresh=1)
        axis.set_xlabel("file size (MiB)")
        axis.set_title(op)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("peak RSS growth (MiB)")
    handles, labels = axes[1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize="small")
    figure.suptitle("Peak memory growth against file size")
    figure.tight_layout(rect=(0, 0.14, 1, 1))
    name = "bench-transfer-memory.png"
    figure.savefig(ctx.plot_path(name), dpi=100)
    plt.close(figure)
    return name, "Peak RSS growth against file size, per client, for downloads and uploads"


def _analysis(
    section: Section, results: dict[str, list[dict[str, Any]]], downloads: list[int], uploads: list[int]
) -> str:
    biggest_down, biggest_up = downloads[-1], uploads[-1]
    sdk_down = _find(results, "sdk", "download", biggest_down)
    sdk_up = _find(results, "sdk", "upload", biggest_up)
    files_up = _find(results, "requests-files", "upload", biggest_up)
    growth = max(r["growth_mib"] for r in results["provider"])
    parts = [
        f"The hook's memory stays flat (at most {growth:.1f} MiB of growth, up to "
        f"{size_label(biggest_down)}): it holds one 1 MiB chunk at a time both ways, and in a process "
        "that has imported Airflow that chunk fits in memory the process already holds."
    ]
    if sdk_down and sdk_up and files_up:
        parts.append(
            f"The SDK's grows with the file: {sdk_down['growth_mib']:.0f} MiB for a "
            f"{size_label(biggest_down)} download (``requests.get`` without ``stream=True`` holds the "
            f"whole body, and more while it assembles it) and {sdk_up['growth_mib']:.0f} MiB for a "
            f"{size_label(biggest_up)} upload (``files=`` builds the whole multipart body in memory, as "
            f"it does for plain requests: {files_up['growth_mib']:.0f} MiB). On a worker with a few GiB "
            "per task slot, that is the difference between moving Zoho's largest attachments and being "
            "killed for memory."
        )
    sha = float(section.data.get("sha256_mib_s", 0.0))
    plain = _find(results, "requests", "download", biggest_down)
    hashed = _find(results, "requests-sha256", "download", biggest_down)
    ours = _find(results, "provider", "download", biggest_down)
    missed = [t for t in section.targets if t.met is False]
    if sha and plain and hashed and ours:
        bound = 1 / (1 / plain["mib_s"] + 1 / sha)
        text = (
            "What limits the hook's throughput is SHA-256, not the transfer. On loopback the wire is a "
            f"memory copy between two processes ({plain['mib_s']:.0f} MiB/s for plain requests, "
            f"{size_label(biggest_down)} download), and SHA-256 runs at {sha:.0f} MiB/s on this CPU: "
            "hashing a byte costs about as much as receiving it, and the emulator's process takes the "
            "other core. A client that hashes what it receives runs at about 1 / (1/wire + 1/hash) = "
            f"{bound:.0f} MiB/s ({ratio(bound / plain['mib_s'])} plain requests); the hook runs at "
            f"{ours['mib_s']:.0f} MiB/s, and plain requests hashing the same bytes at "
            f"{hashed['mib_s']:.0f} MiB/s. The hook adds little beyond the hash."
        )
        small_ours = _find(results, "provider", "download", downloads[0])
        small_hashed = _find(results, "requests-sha256", "download", downloads[0])
        if small_ours and small_hashed:
            extra_ms = 1000 * (small_ours["best"] - small_hashed["best"])
            text += (
                f" For {size_label(downloads[0])} files what it adds is a fixed cost per file, "
                f"{extra_ms:.2f} ms here (a temporary file beside the destination, a hard link into "
                "place, the checks of the response), which weighs more the smaller the file."
            )
        if any("plain requests" in t.name for t in missed):
            text += (
                " So the issue's 0.9x target is wrong for loopback, not the hook: the SHA-256 of every "
                "result is what lets a re-run keep identical files and lets users verify them, and over "
                "a real link to Zoho, an Internet link far slower than a memory copy, it is hidden: "
                f"even at 100 MiB/s (800 Mbit/s) on one connection hashing costs {100 / sha:.0%} of the "
                f"transfer time, and the hook would run at {ratio(1 / (1 + 100 / sha))} of plain "
                "requests. Hashing on a second thread was tried in a prototype: on 2 cores it reached "
                "only 0.7x of plain requests, because no core is idle; not worth its complexity."
            )
        parts.append(text)
    other = [t for t in missed if "plain requests" not in t.name]
    if other:
        parts.append("Also missed: " + "; ".join(f"{t.name} ({t.measured})" for t in other) + ".")
    return "\n\n".join(parts)
