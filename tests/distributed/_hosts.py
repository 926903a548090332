"""
The machinery under the distributed deployment: worker hosts in network namespaces, PostgreSQL,
Redis, and a TCP relay that shows the (loopback-only) emulator to the hosts.

Topology: a bridge ``ztd-br`` in the root namespace holds :data:`GATEWAY`; each worker host is a
network namespace ``ztd-wN`` with one veth end on the bridge and the address ``SUBNET.(10+N)``, and
no default route, so a host reaches the root namespace's services on :data:`GATEWAY` and nothing
else. Every name starts with :data:`PREFIX`: :func:`remove_leftovers` can then clear what a killed
earlier run left (namespaces, the processes inside them, links), and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

PREFIX = "ztd"
BRIDGE = f"{PREFIX}-br"
SUBNET = "10.213.77"
GATEWAY = f"{SUBNET}.1"
#: Serialises runs on one machine (a second run would tear down the first one's hosts).
LOCK_FILE = Path("/run/zoho-distributed-test.lock")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a short command; fail with its output."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def namespaces() -> list[str]:
    """Our network namespaces that exist now."""
    listed = run("ip", "netns", "list", check=False).stdout.split("\n")
    names = [line.split()[0] for line in listed if line.strip()]
    return [name for name in names if name.startswith(f"{PREFIX}-")]


def links() -> list[str]:
    """Our network links (bridge, veth ends) in the root namespace."""
    listed = run("ip", "-o", "link", "show", check=False).stdout.splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in listed if ":" in line]
    return [name for name in names if name.startswith(f"{PREFIX}-")]


def namespace_pids(name: str) -> list[int]:
    """The processes running inside one of our namespaces."""
    out = run("ip", "netns", "pids", name, check=False).stdout.split()
    return [int(pid) for pid in out if pid.isdigit()]


def remove_leftovers() -> list[str]:
    """
    Kill the processes inside our namespaces, delete the namespaces and our links.

    :return: what was found (empty when nothing was left).
    """
    found = []
    for name in namespaces():
        for pid in namespace_pids(name):
            found.append(f"process {pid} in {name}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while namespace_pids(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        found.append(f"namespace {name}")
        run("ip", "netns", "del", name, check=False)
    for link in links():
        found.append(f"link {link}")
        run("ip", "link", "del", link, check=False)
    return found


def netns_available() -> str | None:
    """``None`` when network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no ip command (iproute2)"
    probe = f"{PREFIX}-probe"
    done = run("ip", "netns", "add", probe, check=False)
    run("ip", "netns", "del", probe, check=False)
    return None if done.returncode == 0 else f"ip netns add failed: {done.stderr.strip()}"


def make_network(count: int) -> list[tuple[str, str]]:
    """
    The bridge and ``count`` hosts.

    :return: ``(namespace, address)`` of each host.
    """
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    hosts = []
    for number in range(1, count + 1):
        name, address = f"{PREFIX}-w{number}", f"{SUBNET}.{10 + number}"
        outside, inside = f"{name}h", f"{name}n"
        run("ip", "netns", "add", name)
        run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        run("ip", "link", "set", inside, "netns", name)
        run("ip", "link", "set", outside, "master", BRIDGE, "up")
        run("ip", "-n", name, "addr", "add", f"{address}/24", "dev", inside)
        run("ip", "-n", name, "link", "set", inside, "up")
        run("ip", "-n", name, "link", "set", "lo", "up")
        hosts.append((name, address))
    return hosts


def wait_port(host: str, port: int, timeout: float = 60.0) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")
        time.sleep(0.2)


def postgres_bin() -> Path:
    """The directory of Debian's PostgreSQL server programs (the newest installed)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
    return versions[-1].parent


def prepare_postgres(data_dir: Path, port: int) -> list[str]:
    """
    A throwaway cluster owned by the ``postgres`` user, trusting the test network.

    :return: the command line that serves it in the foreground.
    """
    owner = pwd.getpwnam("postgres")
    data_dir.mkdir(parents=True)
    socket_dir = data_dir.parent / "pg-socket"
    socket_dir.mkdir()
    for path in (data_dir, socket_dir):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    as_postgres = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups"]
    bindir = postgres_bin()
    initdb = [str(bindir / "initdb"), "-D", str(data_dir), "-U", "airflow", "--auth=trust", "-E", "UTF8"]
    run(*as_postgres, *initdb)
    with (data_dir / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {SUBNET}.0/24 trust\n")
    # fsync off: the data is thrown away; the cluster's own durability is not under test.
    settings = {
        "listen_addresses": f"127.0.0.1,{GATEWAY}",
        "port": str(port),
        "unix_socket_directories": str(socket_dir),
        "max_connections": "400",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    flags = [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]
    return [*as_postgres, str(bindir / "postgres"), "-D", str(data_dir), *flags]


def redis_command(port: int) -> list[str]:
    """Redis in the foreground on loopback and the gateway, nothing saved to disk."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("Redis is not installed (apt-get install -y redis-server)")
    return [
        server,
        "--port", str(port),
        "--bind", f"127.0.0.1 {GATEWAY}",
        "--protected-mode", "no",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip


class Relay:
    """
    Forwards TCP connections from ``listen`` to ``target`` (two threads per connection).

    The emulator binds loopback addresses only (its admin API hands out secrets), and the worker
    hosts cannot reach the root namespace's loopback: the relay is its face on the test network.
    """

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(listen)
        self.address = self._server.getsockname()[:2]
        self._stopped = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="relay", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the relay."""
        return f"http://{self.address[0]}:{self.address[1]}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            # Both directions share one countdown: the sockets close when both have finished.
            pending = [2]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink, pending), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, pending: list[int]) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        # Half-close so that the other direction can finish its answer.
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with self._lock:
            pending[0] -= 1
            done = pending[0] == 0
            if done:
                self._sockets.difference_update((source, sink))
        if done:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()

    def stop(self) -> None:
        """Stop accepting and cut every open connection."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
