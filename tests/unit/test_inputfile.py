"""An input opened once: checks, a streamed hash and positional reads on one descriptor."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from docling_hybrid_cli.errors import InputError, InputNotFound, NotAPdf
from docling_hybrid_cli.inputfile import InputFile


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """2.5 MiB of varied bytes: the hash crosses its 1 MiB chunks."""
    path = tmp_path / "data.bin"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 10_240)
    return path


def test_hash_is_the_sha256_of_the_bytes(data_file: Path) -> None:
    with InputFile.open(data_file) as file:
        assert file.sha256() == hashlib.sha256(data_file.read_bytes()).hexdigest()


def test_hash_streams_without_holding_the_file(tmp_path: Path) -> None:
    """A 64 MiB document is hashed with a bounded buffer, never read whole into memory."""
    path = tmp_path / "big.bin"
    with path.open("wb") as handle:
        handle.truncate(64 << 20)  # sparse: cheap to make, real bytes to read
    tracemalloc.start()
    try:
        with InputFile.open(path) as file:
            digest = file.sha256()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest == hashlib.sha256(bytes(64 << 20)).hexdigest()
    assert peak < 4 << 20, f"peak {peak} bytes"


def test_readers_keep_their_own_positions(data_file: Path) -> None:
    """pdfium's reader and an image decode on another thread never move each other's offset."""
    content = data_file.read_bytes()
    with InputFile.open(data_file) as file:
        one, two = file.reader(), file.reader()
        assert one.read(9) == b"%PDF-1.7\n"
        two.seek(-5, os.SEEK_END)
        assert two.read() == content[-5:]
        assert one.read(3) == content[9:12]
        assert one.tell() == 12
        assert two.read(10) == b""  # at the end
        one.seek(1_000_000)
        buffer = bytearray(16)
        assert one.readinto(buffer) == 16 and bytes(buffer) == content[1_000_000:1_000_016]


def test_the_name_does_not_matter_once_open(data_file: Path, tmp_path: Path) -> None:
    """Replacing the file under its name does not change what the open file reads."""
    content = data_file.read_bytes()
    with InputFile.open(data_file) as file:
        (tmp_path / "other.bin").write_bytes(b"%PDF-other")
        (tmp_path / "other.bin").replace(data_file)
        assert file.reader().read() == content
        assert file.sha256() == hashlib.sha256(content).hexdigest()


def test_closed_file_reads_nothing(data_file: Path) -> None:
    """After close a reader sees end of file (pdfium then reports damage), never another fd."""
    file = InputFile.open(data_file)
    reader = file.reader()
    file.close()
    file.close()  # twice is fine
    assert reader.read(10) == b""
    with pytest.raises(InputError, match="closed"):
        file.sha256()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_without_waiting(tmp_path: Path) -> None:
    """Opening a FIFO for reading would block until a writer comes; it is refused at once."""
    fifo = tmp_path / "doc.pdf"
    os.mkfifo(fifo)
    with pytest.raises(InputNotFound, match="is not a regular file"):
        InputFile.open(fifo, pdf_only=True)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        pytest.param(lambda p: None, InputNotFound, "does not exist", id="missing"),
        pytest.param(lambda p: p.write_bytes(b""), NotAPdf, "is empty", id="empty"),
        pytest.param(lambda p: p.mkdir(), InputNotFound, "is not a file", id="directory"),
    ],
)
def test_unusable_inputs_are_input_errors(
    tmp_path: Path, make: object, error: type[Exception], message: str
) -> None:
    path = tmp_path / "doc.pdf"
    make(path)  # type: ignore[operator]
    with pytest.raises(error, match=message):
        InputFile.open(path)
