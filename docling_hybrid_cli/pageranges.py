"""``--pages``: which pages of a document a job converts.

The expression is stored on the job as the user typed it and resolved once the
document is open, because only then is its page count known.
"""

from __future__ import annotations

import re

from .errors import PageRangeError

__all__ = ["parse_page_range"]

_RANGE_PART = re.compile(r"(?P<start>\d+)?\s*-\s*(?P<end>\d+)?")


def parse_page_range(spec: str | None, page_count: int) -> list[int]:
    """Turn a ``--pages`` expression into sorted, unique 1-based page numbers.

    Accepts ``"1-3,7"``, ``"5-"`` (to the end), ``"-3"`` (from the start), ``"2"``,
    spaces anywhere around numbers, and ``None``/``""``/``"all"`` for every page.
    Anything else fails loudly rather than silently converting fewer pages.
    """

    def bad(part: str, reason: str) -> PageRangeError:
        return PageRangeError(
            f"invalid page range {part!r} in --pages {spec!r}: {reason} "
            f"(the document has {page_count} pages)"
        )

    text = (spec or "").strip()
    if text.lower() in ("", "all"):
        pages = set(range(1, page_count + 1))
    else:
        pages = set()
        for raw_part in text.split(","):
            part = raw_part.strip()
            if not part:
                raise bad(part, "empty part")
            if part.isdigit():
                start = end = int(part)
            else:
                match = _RANGE_PART.fullmatch(part)
                if match is None or (match["start"] is None and match["end"] is None):
                    raise bad(part, "expected N, N-M, N- or -M")
                start = int(match["start"]) if match["start"] is not None else 1
                end = int(match["end"]) if match["end"] is not None else page_count
            if start < 1 or end < 1:
                raise bad(part, "pages start at 1")
            if max(start, end) > page_count:
                raise bad(part, f"page {max(start, end)} does not exist")
            if start > end:
                raise bad(part, "start is after end")
            pages.update(range(start, end + 1))
    if not pages:
        raise PageRangeError(f"--pages {spec!r} selects no pages (the document has no pages)")
    return sorted(pages)
