"""Run a command under ``strace`` and read back every address it tried and every file it
created or wrote, to prove a worker talks to nothing and writes nowhere it was not told to.

A Python-level hook cannot see what a native library does (ONNX Runtime's telemetry lives
in its C++ core), so the proof is taken where every library must pass: the ``connect``,
``sendto`` and ``sendmsg`` calls (a DNS look-up is one of them, to port 53, or a
``connect`` to the name-service cache's socket) and the calls that create files and
folders. ``strace -ff`` writes one file per thread, so no call is split across lines.

Example::

    traced = Traced.run(["moderation-worker", "run"], workdir, env, until=ready)
    traced.peers()            # {Peer('AF_INET', '127.0.0.1', 6379), ...}
    traced.created()          # {PosixPath('/srv/onnx/abc.onnx'), ...}
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["STRACE_CALLS", "Peer", "Trace", "endpoint", "strace_argv", "stray_files", "unexpected_peers"]

#: The calls traced: every way to reach an address, and every way to make a file or folder.
STRACE_CALLS = (
    "connect,sendto,sendmsg,sendmmsg,"
    "open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat"
)

_INET = re.compile(r"sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\(\"([^\"]+)\"\)")
_INET6 = re.compile(r"sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, \"([^\"]+)\"")
_UNIX = re.compile(r"sa_family=AF_UNIX, sun_path=@?\"([^\"]*)\"")
_FAMILY = re.compile(r"sa_family=(AF_\w+)")
_CALL = re.compile(r"^(?:\d+\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(.*)$")
_STRING = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")
_DIRFD = re.compile(r"^(AT_FDCWD|\d+<([^>]*)>)")
_WRITE_FLAGS = ("O_CREAT", "O_WRONLY", "O_RDWR", "O_TRUNC", "O_APPEND")
_NETWORK_CALLS = {"connect", "sendto", "sendmsg", "sendmmsg"}


def strace_argv(output: Path, argv: list[str]) -> list[str]:
    """``argv`` under strace, following every thread and child, one trace file per thread
    (``output.PID``), file descriptors shown with what they are."""
    strace = shutil.which("strace")
    if strace is None:
        raise FileNotFoundError("strace is not installed (make strace)")
    return [strace, "-ff", "-qq", "-y", "-s", "256", "-e", f"trace={STRACE_CALLS}", "-o", str(output), *argv]


@dataclass(frozen=True, order=True)
class Peer:
    """An address a process tried to reach."""

    family: str
    host: str
    port: int | None = None

    def __str__(self) -> str:
        return f"{self.family} {self.host}" + (f":{self.port}" if self.port is not None else "")


@dataclass(frozen=True)
class Trace:
    """The calls of one traced run, read from its trace files."""

    lines: tuple[str, ...]
    cwd: Path

    @classmethod
    def read(cls, output: Path, cwd: Path) -> Trace:
        files = sorted(output.parent.glob(output.name + ".*"))
        lines = [line for path in files for line in path.read_text(errors="replace").splitlines()]
        return cls(tuple(lines), cwd)

    def calls(self, names: Iterable[str]) -> list[tuple[str, str, str]]:
        """``(call, arguments, result and the rest)`` of the calls named, whatever their result."""
        wanted = set(names)
        found = []
        for line in self.lines:
            match = _CALL.match(line)
            if match and match.group(1) in wanted:
                found.append((match.group(1), match.group(2), match.group(3) + match.group(4)))
        return found

    def peers(self) -> set[Peer]:
        """Every address tried (a refused or failed attempt counts: it was tried)."""
        peers = set()
        for _, args, _ in self.calls(_NETWORK_CALLS):
            if m := _INET.search(args):
                peers.add(Peer("AF_INET", m.group(2), int(m.group(1))))
            elif m := _INET6.search(args):
                peers.add(Peer("AF_INET6", m.group(2), int(m.group(1))))
            elif m := _UNIX.search(args):
                peers.add(Peer("AF_UNIX", m.group(1)))
            elif m := _FAMILY.search(args):
                peers.add(Peer(m.group(1), "?"))
        return peers

    def written(self) -> set[Path]:
        """Every path a successful call created, opened for writing, renamed or linked to."""
        paths: set[Path] = set()
        for call, args, result in self.calls(STRACE_CALLS.split(",")):
            if call in _NETWORK_CALLS or result.startswith("-1"):
                continue
            strings = _STRING.findall(args)
            if not strings:
                continue
            if call in ("open", "openat", "openat2") and not any(flag in args for flag in _WRITE_FLAGS):
                continue
            target = strings[-1] if call.startswith(("rename", "link", "symlink")) else strings[0]
            paths.add(self._absolute(args, target))
        return paths

    def _absolute(self, args: str, path: str) -> Path:
        if path.startswith("/"):
            return Path(path)
        dirfd = _DIRFD.match(args)
        base = Path(dirfd.group(2)) if dirfd and dirfd.group(2) else self.cwd
        return base / path


#: The kernel's own sockets (getaddrinfo asks it for the interfaces' addresses): no network.
KERNEL_FAMILIES = {"AF_NETLINK"}
#: Written by the system, not the worker's choice: the null device, shared memory.
SYSTEM_FOLDERS = (Path("/dev"), Path("/proc/self"), Path("/proc/thread-self"))


def endpoint(url: str) -> tuple[str, int]:
    """``(host, port)`` of a service URL (``kafka://h:p``, ``redis://h:p/0``, ``h:p``)."""
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if not parts.hostname or not parts.port:
        raise ValueError(f"no host and port in {url!r}")
    return parts.hostname, parts.port


def unexpected_peers(peers: Iterable[Peer], allowed: set[tuple[str, int]]) -> list[str]:
    """The peers that are none of the ``allowed`` loopback endpoints (nor the kernel's)."""
    loopback = {"127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost"}
    bad = []
    for peer in sorted(peers):
        if peer.family in KERNEL_FAMILIES:
            continue
        ports = {port for _, port in allowed}
        if peer.family in ("AF_INET", "AF_INET6") and peer.host in loopback and peer.port in ports:
            continue
        bad.append(str(peer))
    return bad


def stray_files(paths: Iterable[Path], folders: Iterable[Path]) -> list[str]:
    """The paths outside ``folders`` (and the system's own: devices, this process)."""
    roots = [*(Path(os.path.realpath(f)) for f in folders), *SYSTEM_FOLDERS]
    return sorted(
        str(p) for p in paths if not any(Path(os.path.realpath(p)).is_relative_to(r) for r in roots)
    )
