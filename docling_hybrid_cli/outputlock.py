"""One run per output file: a ``flock`` on ``.<name>.lock`` beside it.

Two runs writing the same Markdown file would interleave their pages and
figures, and the second to finish would silently replace the first. So a run
takes an exclusive ``flock`` on a lock file next to each output before it
writes anything there, and a second run on the same output refuses at once
(:class:`OutputBusy`, exit 2) naming the run that holds it. The kernel drops
the lock when its holder exits for any reason, ``kill -9`` included, so a
crashed run never leaves an output locked; the stale lock file it leaves is
simply locked again by the next run. ``flock`` works on local file systems
and on NFS (Linux emulates it with POSIX locks there:
https://man7.org/linux/man-pages/man2/flock.2.html).

The file holds the holder's process id, only so the refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path
from types import TracebackType
from typing import Self

from .errors import OutputBusy, OutputError

__all__ = ["OutputLock", "lock_path_for"]

_ATTEMPTS = 20
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def lock_path_for(output: Path) -> Path:
    return output.with_name(f".{output.name}.lock")


class OutputLock:
    """Holds the lock of ``output`` between :meth:`acquire` and :meth:`release` (or a ``with``)."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = lock_path_for(output)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Lock, or raise :class:`OutputBusy` at once if another run holds the lock.

        A holder that finishes unlinks the file while still holding it; a run
        that opened the old file just before then locks a file that no longer
        has the name, sees so, and tries again with the new one.
        """
        if self._fd is not None:
            raise ValueError(f"{self.path} is already locked by this object")
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write {self.output}: {exc.strerror or exc}") from None
        try:
            for _ in range(_ATTEMPTS):
                fd = self._open()
                if self._lock(fd):
                    self._fd = fd
                    self._write_pid(fd)
                    return
        except OSError as exc:
            raise OutputError(f"cannot lock {self.output}: {exc.strerror or exc}") from None
        raise OutputError(f"cannot lock {self.output}: its lock file keeps being replaced")

    def _open(self) -> int:
        try:
            fd = os.open(self.path, _FLAGS, 0o644)
        except OSError as exc:
            if os.path.islink(self.path):
                raise OutputError(
                    f"cannot lock {self.output}: {self.path} is a symbolic link",
                    hint="remove it; the lock file is never followed",
                ) from None
            raise exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OutputError(f"cannot lock {self.output}: {self.path} is not a regular file")
        return fd

    def _lock(self, fd: int) -> bool:
        """True once ``fd`` is locked and still the file under the lock's name."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"another run (pid {holder})" if holder else "another run"
            raise OutputBusy(
                f"{who} is writing {self.output}",
                hint="wait for it to finish, or write to another file with -o",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, self.path):
            return True
        os.close(fd)  # its holder unlinked it after we opened it: try the new one
        return False

    @staticmethod
    def _write_pid(fd: int) -> None:
        """Record our pid for a refused run's message; a full disk only loses the pid."""
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Unlink the lock file while still holding it, then let go; safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _same_file(fd, self.path):
                with contextlib.suppress(OSError):
                    self.path.unlink()
        finally:
            os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        here = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode("ascii").strip())
        if pid > 0:
            return pid
    return None
