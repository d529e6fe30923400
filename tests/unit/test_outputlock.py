"""One run per output: the lock file beside it, refused at once, released on any exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from docling_hybrid_cli.errors import OutputBusy, OutputError
from docling_hybrid_cli.outputlock import OutputLock, lock_path_for

HOLD = """
import sys
from pathlib import Path
from docling_hybrid_cli.outputlock import OutputLock
lock = OutputLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "doc.md"


@pytest.fixture
def holder(out: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of ``out`` until its stdin closes (or it is killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def test_lock_file_names_the_holder_and_goes_away(out: Path) -> None:
    """While held the lock file says who holds it; released, it is gone."""
    with OutputLock(out):
        assert lock_path_for(out) == out.with_name(".doc.md.lock")
        assert lock_path_for(out).read_text().strip() == str(os.getpid())
    assert sorted(out.parent.iterdir()) == []


def test_second_lock_in_this_process_is_refused(out: Path) -> None:
    """Locks are per open file: even this process cannot write one output twice at once."""
    busy = f"another run \\(pid {os.getpid()}\\) is writing"
    with OutputLock(out), pytest.raises(OutputBusy, match=busy):
        OutputLock(out).acquire()
    with OutputLock(out):  # free again
        pass


def test_another_process_holding_the_lock_is_named(
    out: Path, holder: subprocess.Popen[str]
) -> None:
    """A second run refuses at once, naming the first run's pid; exit 2."""
    with pytest.raises(OutputBusy) as info:
        OutputLock(out).acquire()
    assert f"pid {holder.pid}" in str(info.value)
    assert str(out) in str(info.value)
    assert info.value.exit_code == 2
    assert info.value.hint is not None


def test_kill_9_releases_the_lock(out: Path, holder: subprocess.Popen[str]) -> None:
    """The kernel drops a flock with its holder: a killed run never leaves the output locked."""
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert lock_path_for(out).exists()  # the stale file stays, unlocked
    with OutputLock(out):
        assert lock_path_for(out).read_text().strip() == str(os.getpid())


def test_holder_without_a_readable_pid_is_still_refused(out: Path) -> None:
    """An unreadable pid (an older version, a full disk) only drops the pid from the message."""
    with OutputLock(out):
        lock_path_for(out).write_text("garbage")
        with pytest.raises(OutputBusy, match=r"^another run is writing"):
            OutputLock(out).acquire()


def test_symlink_at_the_lock_name_is_refused_not_followed(out: Path, tmp_path: Path) -> None:
    """A symlink planted at the lock file's name: refused (exit 2), its target untouched."""
    victim = tmp_path / "precious.txt"
    victim.write_text("precious")
    lock_path_for(out).symlink_to(victim)
    with pytest.raises(OutputError, match="is a symbolic link") as info:
        OutputLock(out).acquire()
    assert info.value.exit_code == 2
    assert victim.read_text() == "precious"


def test_lock_on_an_unlinked_file_is_not_trusted(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that opened the lock file just before its holder unlinked it locks an orphan:
    it sees that the name now means another file (or none) and locks the named one instead."""
    first = OutputLock(out)
    first.acquire()
    orphan = os.open(lock_path_for(out), os.O_RDWR)  # the second run opens the old file...
    first.release()  # ...then the holder unlinks it and lets go
    second = OutputLock(out)
    opens = iter([orphan])
    real_open = second._open
    monkeypatch.setattr(second, "_open", lambda: next(opens, None) or real_open())
    second.acquire()
    try:
        assert lock_path_for(out).read_text().strip() == str(os.getpid())
        with pytest.raises(OutputBusy):
            OutputLock(out).acquire()
    finally:
        second.release()


def test_output_folder_under_a_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        OutputLock(tmp_path / "file.txt" / "out.md").acquire()
