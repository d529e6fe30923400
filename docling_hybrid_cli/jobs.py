"""Turn the command line's inputs into one job per document.

Inputs may be files (PDFs or page images) and directories (searched
recursively with a glob). Outputs go beside each input, or into ``-o DIR``
mirroring the directory layout, or, for a single input, to ``-o FILE.md``.
Two inputs that would write the same Markdown file are refused up front
rather than silently overwriting each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .errors import OutputError, UsageError
from .pipeline import DocumentJob

__all__ = ["DEFAULT_GLOB", "plan_jobs"]

DEFAULT_GLOB = "**/*.pdf"


def _check_pattern(pattern: str) -> None:
    """A glob selects files *inside* each directory input, so outputs stay inside ``-o DIR``.

    ``../other/*.pdf`` would mirror ``../other`` to a place outside the output
    folder; an absolute pattern is not a pattern of the folder at all.
    """
    parts = Path(pattern).parts
    if not pattern.strip() or Path(pattern).is_absolute() or pattern.startswith(("/", "\\")):
        raise UsageError(f"--glob {pattern!r} must be a relative pattern such as '**/*.pdf'")
    if ".." in parts or ".." in pattern.replace("\\", "/").split("/"):
        raise UsageError(f"--glob {pattern!r} may not leave the input folder ('..')")


def _expand(inputs: Sequence[Path], pattern: str) -> list[tuple[Path, Path | None]]:
    """(file, the directory it was found under or None) for every input.

    An empty directory is a usage error: the glob probably does not say what
    the user meant.
    """
    found: list[tuple[Path, Path | None]] = []
    for item in inputs:
        if item.is_dir():
            _check_pattern(pattern)
            matches = sorted(p for p in item.glob(pattern) if p.is_file())
            if not matches:
                raise UsageError(f"no files matching {pattern!r} in {item}")
            found.extend((match, item) for match in matches)
        else:
            # A missing or unreadable file is planned like any other: converting it
            # fails on its own, and the other files still convert.
            found.append((item, None))
    return found


def plan_jobs(
    inputs: Sequence[Path],
    *,
    output: Path | None = None,
    pattern: str = DEFAULT_GLOB,
    pages: str | None = None,
    password: str | None = None,
) -> list[DocumentJob]:
    """One :class:`DocumentJob` per document, outputs decided and checked for clashes."""
    if not inputs:
        raise UsageError("no input given")
    files = _expand(inputs, pattern)
    single_file_output = (
        output is not None
        and len(files) == 1
        and files[0][1] is None
        and output.suffix.lower() == ".md"
        and not output.is_dir()
    )
    if output is not None and not single_file_output and output.exists() and not output.is_dir():
        raise OutputError(f"{output} exists and is not a directory (several inputs need one)")
    jobs: list[DocumentJob] = []
    for source, root in files:
        if single_file_output:
            assert output is not None
            target = output
        elif output is None:
            target = source.with_suffix(".md")
        elif root is not None:
            target = output / source.relative_to(root).with_suffix(".md")
        else:
            target = output / source.with_suffix(".md").name
        jobs.append(DocumentJob(source=source, output=target, pages=pages, password=password))
    seen: dict[Path, Path] = {}
    for job in jobs:
        key = job.output.resolve()
        if key in seen:
            raise UsageError(
                f"{seen[key]} and {job.source} would both write {job.output}; use -o DIR"
            )
        seen[key] = job.source
    return jobs
