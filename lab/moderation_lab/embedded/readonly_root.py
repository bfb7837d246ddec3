"""Run a command as a container with a read-only root file system would run it.

Tests run as root, so file modes prove nothing: root writes through them. Here the
command runs in a mount namespace of its own (``unshare --mount``) and a ``chroot``
whose root is this machine's file system made read-only (an overlay over ``/``,
remounted read-only, so that mount points the image would have can be made for it
without touching the real root). Only the paths named ``writable`` are writable, each
a fresh tmpfs as a Kubernetes ``emptyDir`` is; ``binds`` show host folders read-only at
the paths an image would hold them (e.g. ``/models/text``); ``visible`` host paths that
lie under a writable path (pytest's temporary folders under ``/tmp``) are shown
read-only at the same path. Root (uid 0) inside gets EROFS like anybody else.

The network is the host's: the command reaches loopback services.

Needs Linux, root, ``unshare`` (util-linux), overlayfs and tmpfs; :func:`sandbox_available`
says whether this machine has them.

Example::

    sandbox = ReadOnlyRoot(workdir, writable=("/tmp",), binds={"/models/text": text_dir})
    child = ChildProcess(sandbox.argv([["moderation-worker", "run"]], cwd="/"), log, env)
"""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ReadOnlyRoot", "sandbox_available"]


@dataclass(frozen=True)
class ReadOnlyRoot:
    """Where the overlay lives (``workdir``) and what is writable or shown inside."""

    workdir: Path
    writable: tuple[str, ...] = ()
    binds: Mapping[str, Path] = field(default_factory=dict)
    visible: tuple[Path, ...] = ()
    #: Folders the image has (mount points aside), e.g. the image user's home.
    folders: tuple[str, ...] = ()
    tmpfs_size: str = "1g"

    def script(self, commands: Sequence[Sequence[str]], cwd: str) -> str:
        """The shell script that builds the root and runs ``commands`` in turn (the last exec'd)."""
        root, upper, work = (self.workdir / name for name in ("root", "upper", "work"))
        for folder in (root, upper, work):
            folder.mkdir(parents=True, exist_ok=True)
        q = shlex.quote
        r = str(root)
        lines = [
            f"mount -t overlay overlay -o lowerdir=/,upperdir={q(str(upper))},workdir={q(str(work))} {q(r)}",
            *(f"mkdir -p {q(r + path)}" for path in (*self.writable, *self.binds, *self.folders)),
            f"mount -o remount,ro {q(r)}",
            f"mount --rbind /dev {q(r + '/dev')}",
            f"mount -t proc proc {q(r + '/proc')}",
            f"mount --rbind /sys {q(r + '/sys')}",
            *(
                f"mount -t tmpfs -o size={self.tmpfs_size},mode=1777 tmpfs {q(r + path)}"
                for path in self.writable
            ),
        ]
        shown = [(str(host), host) for host in self.visible] + [
            (inside, host) for inside, host in self.binds.items()
        ]
        for inside, host in shown:
            target = q(r + inside)
            lines += [
                f"mkdir -p {target}",
                f"mount --bind {q(str(host))} {target}",
                f"mount -o remount,bind,ro {target}",
            ]
        steps = [shlex.join(command) for command in commands]
        steps[-1] = "exec " + steps[-1]
        inner = " && ".join([f"cd {q(cwd)}", *steps])
        lines.append(f"exec chroot {q(r)} /bin/sh -c {q(inner)}")
        return "\n".join(lines)

    def argv(self, commands: Sequence[Sequence[str]], cwd: str = "/") -> list[str]:
        """``unshare`` running :meth:`script`; the mounts vanish with the last process."""
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-ec",
            self.script(commands, cwd),
        ]


@functools.cache
def sandbox_available() -> str | None:
    """None when :class:`ReadOnlyRoot` can run here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = (
        "d=$(mktemp -d) && mkdir $d/u $d/w $d/r"
        " && mount -t overlay overlay -o lowerdir=/,upperdir=$d/u,workdir=$d/w $d/r"
        " && mount -o remount,ro $d/r && ! touch $d/r/tmp/.probe 2>/dev/null;"
        " rc=$?; umount $d/r; rm -rf $d; exit $rc"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        return (
            f"no read-only overlay root here (needs root, mount namespaces, overlayfs): {done.stderr.strip()}"
        )
    return None
