"""Turn the command line's inputs into one job per document.

Inputs may be files (PDFs or page images) and directories (searched
recursively with a glob). Outputs go beside each input, or into ``-o DIR``
mirroring the directory layout, or, for a single input, to ``-o FILE`` with
the suffix of any requested format naming the stem (``-o out/r.json --to md
--to json`` writes ``out/r.md`` and ``out/r.json``). Two outputs that would be
the same file -- two inputs' Markdown, or a ``--report`` on a document's
output -- are refused up front rather than silently overwriting each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .errors import OutputError, UsageError
from .formats import SUFFIXES, format_for_suffix, output_paths
from .pipeline import DocumentJob
from .sources import SUPPORTED_SUFFIXES

__all__ = ["DEFAULT_GLOB", "check_report", "plan_jobs"]

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
    formats: Sequence[str] = ("md",),
) -> list[DocumentJob]:
    """One :class:`DocumentJob` per document, outputs decided and checked for clashes.

    A job's ``output`` is its Markdown path, the stem every format's file is
    named from (:func:`~docling_hybrid_cli.formats.output_paths`).
    """
    if not inputs:
        raise UsageError("no input given")
    files = _expand(inputs, pattern)
    named = None if output is None or output.is_dir() else format_for_suffix(output.suffix)
    if output is not None and named is not None and named not in formats:
        wanted = ", ".join(SUFFIXES[f] for f in formats)
        raise UsageError(
            f"-o {output}: {output.suffix} is not an output of this run ({wanted}); "
            f"add --to {named} or name a {wanted} file"
        )
    if output is not None and not output.is_dir() and output.suffix.lower() in SUPPORTED_SUFFIXES:
        # Most likely the input named twice; a folder called "x.pdf" helps nobody.
        raise UsageError(
            f"-o {output}: {output.suffix} is an input type, not an output; "
            "name a .md file (or another --to format's file) or a directory"
        )
    single_file_output = named is not None and len(files) == 1 and files[0][1] is None
    if output is not None and not single_file_output and output.exists() and not output.is_dir():
        raise OutputError(f"{output} exists and is not a directory (several inputs need one)")
    jobs: list[DocumentJob] = []
    for source, root in files:
        if single_file_output:
            assert output is not None
            target = output if named == "md" else output.with_suffix(".md")
        elif output is None:
            target = source.with_suffix(".md")
        elif root is not None:
            target = output / source.relative_to(root).with_suffix(".md")
        else:
            target = output / source.with_suffix(".md").name
        jobs.append(DocumentJob(source=source, output=target, pages=pages, password=password))
    seen: dict[Path, Path] = {}
    for job in jobs:
        for path in output_paths(job.output, formats).values():
            key = path.resolve()
            if key in seen:
                raise UsageError(
                    f"{seen[key]} and {job.source} would both write {path}; use -o DIR"
                )
            seen[key] = job.source
    return jobs


def check_report(jobs: Sequence[DocumentJob], report: Path, formats: Sequence[str]) -> None:
    """Refuse a ``--report`` path that is one of the documents' outputs (or an input)."""
    key = report.resolve()
    for job in jobs:
        if job.source.resolve() == key:
            raise UsageError(f"--report {report} is an input; write the report elsewhere")
        for fmt, path in output_paths(job.output, formats).items():
            if path.resolve() == key:
                what = {"md": "Markdown", "json": "DoclingDocument"}.get(fmt, f"{fmt} export")
                raise UsageError(
                    f"--report {report} is the {what} of {job.source}; write the report elsewhere"
                )
