"""The one exception tree of docling-hybrid-ocr.

Every failure the tool knows about is one of these, so the CLI can turn any of
them into a one-line message and an exit code in a single place
(``cli/__init__.py``). Third-party exceptions (httpx, aiohttp, pypdfium2,
pydantic, tomlkit) are translated where they are raised, never left to leak
upwards.

Transport exceptions are translated by one table per third-party library, each
kept at the boundary where that library ends: ``transport.py`` maps aiohttp's
exceptions to httpx's (so that everything above it, and every test that
injects its own httpx transport, sees one library), and ``client.py`` maps
httpx's exceptions into this tree. Both tables are dicts from exception class
to the class it becomes, as httpx keeps one for httpcore's exceptions, and are
read with :func:`lookup_by_mro`: the most specific entry wins, and a subclass
that a later release of the library adds still finds its parent's entry.

The tree is split by what the *caller* can do about the failure::

    DoclingHybridError
    ├── UsageError                 exit 2: the user must change the command or files
    │   ├── InputError             the input document cannot be read
    │   │   ├── InputNotFound
    │   │   ├── NotAPdf
    │   │   ├── CorruptPdf
    │   │   ├── ImageTooLarge      more pixels than the decode policy allows
    │   │   └── EncryptedPdf
    │   │       └── PasswordRequired   no password given, or a wrong one
    │   ├── PageRangeError         --pages does not parse or is out of range
    │   ├── ConfigError            a config file, env var or flag is invalid
    │   │   └── ConfigFileExists   ``config init`` would overwrite a file
    │   └── OutputError            the output location cannot be written
    │       └── OutputBusy         another run holds the output's lock
    ├── BackendError               one attempt against one backend failed
    │   ├── BackendUnavailable     transient: retry with backoff, then next backend
    │   │   ├── BackendConnectError
    │   │   ├── BackendTimeout
    │   │   ├── BackendServerError     5xx
    │   │   └── BackendRateLimited     429 (may carry retry_after)
    │   ├── BackendRejected        permanent for this backend: no retry on it
    │   │   ├── ContextOverflow    400: prompt + max_tokens exceed the served context
    │   │   ├── BackendNotConfigured   cannot work in this run (no key, no program)
    │   │   └── NoTextFound            a local backend looked and found no text
    │   └── BadModelOutput         answer arrived but is unusable: retried
    │       ├── AnswerTooLarge     past the response size cap: the next backend
    │       ├── EmptyAnswer        finished with no text: one retry, then the next backend
    │       ├── LoopedAnswer       cut off (length, repetition): the backend's loop ladder
    │       └── WithheldAnswer     a content filter withheld it: the next backend
    ├── OutputWriteError           exit 1: writing a document failed mid-run (disk full,
    │                              file too large); its converted pages stay checkpointed
    ├── SimulatedServerError       the simulated server ``benchmark`` starts did not come up
    └── Interrupted                exit 130: Ctrl-C; finished pages are kept

Library code states what went wrong; where a command-line flag is the fix
("pass --password"), the CLI adds that hint (``cli/console.py``), so the
library does not need to know its flags.

Pages that failed on every backend are not an exception: the document is
still written (each failed page marked in it) and the run exits 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = [
    "AnswerTooLarge",
    "BackendConnectError",
    "BackendError",
    "BackendNotConfigured",
    "BackendRateLimited",
    "BackendRejected",
    "BackendServerError",
    "BackendTimeout",
    "BackendUnavailable",
    "BadModelOutput",
    "ConfigError",
    "ContextOverflow",
    "ConfigFileExists",
    "CorruptPdf",
    "DoclingHybridError",
    "EmptyAnswer",
    "EncryptedPdf",
    "InputError",
    "ImageTooLarge",
    "InputNotFound",
    "Interrupted",
    "LoopedAnswer",
    "NoTextFound",
    "NotAPdf",
    "OutputBusy",
    "OutputError",
    "OutputWriteError",
    "PageRangeError",
    "PasswordRequired",
    "SimulatedServerError",
    "UsageError",
    "WithheldAnswer",
    "EXIT_OK",
    "EXIT_PAGES_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "lookup_by_mro",
]

EXIT_OK = 0
"""Every page of every document converted."""
EXIT_PAGES_FAILED = 1
"""Some pages (or a server check) failed; whatever converted was still written."""
EXIT_USAGE = 2
"""Bad input, bad config or bad flags: nothing was attempted."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: finished pages are kept, re-running resumes."""
EXIT_TERMINATED = 143
"""SIGTERM (a container or job scheduler stopping us): handled like Ctrl-C."""


class DoclingHybridError(Exception):
    """Base of every error the tool raises on purpose.

    ``str(exc)`` is the one line shown to the user; it must never contain a
    secret. ``hint`` is an optional second sentence saying what to do.
    """

    exit_code: int = EXIT_PAGES_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(DoclingHybridError):
    """The command, its files or its settings are wrong; retrying cannot help."""

    exit_code = EXIT_USAGE


class InputError(UsageError):
    """An input document cannot be opened or read."""


class InputNotFound(InputError):
    """The path does not exist or is not a regular file."""


class NotAPdf(InputError):
    """The file exists but is not a PDF (nor a supported page image)."""


class CorruptPdf(InputError):
    """The file claims to be a PDF but pdfium cannot parse it, or it has no pages."""


class ImageTooLarge(InputError):
    """An input image has more pixels than the tool agrees to decode.

    A header can claim any size; decoding it whole would allocate gigabytes
    (a decompression bomb), so the size is checked before any pixel is read.
    """


class EncryptedPdf(InputError):
    """The PDF is encrypted and cannot be opened as given."""


class PasswordRequired(EncryptedPdf):
    """The PDF needs a password that was not given, or the one given is wrong."""


class PageRangeError(UsageError):
    """A ``--pages`` expression is malformed or names pages the document lacks."""


class ConfigError(UsageError):
    """A configuration file, environment variable or flag value is invalid."""


class ConfigFileExists(ConfigError):
    """``config init`` was asked to write over an existing config file."""


class OutputError(UsageError):
    """The output file or folder cannot be created or written."""


class OutputBusy(OutputError):
    """Another run is writing the same output (it holds the output's lock file)."""


class OutputWriteError(DoclingHybridError):
    """Writing a document's output failed after its conversion had started.

    Disk full (ENOSPC), file too large (EFBIG, a quota or ``ulimit -f``) or
    permissions changed under us: the command was right, so this is not a
    usage error. The document fails, the pages already converted stay
    checkpointed for a re-run, and a batch goes on with the next document.
    """


class BackendError(DoclingHybridError):
    """One attempt against one backend failed.

    ``backend`` names the backend; ``status`` is the HTTP status when there was
    one. Subclasses say whether retrying the same backend can help.
    """

    retryable: bool = False
    attempts: int = 1
    """How many attempts were made on this backend before giving up (set by the retry loop)."""
    step: str = ""
    """The request variant that failed (a loop-ladder step, e.g. "guard 30/90"); "" if only one."""
    earlier: tuple[BackendError, ...] = ()
    """Failures on the same backend before this one (earlier ladder steps), oldest first."""

    def __init__(
        self,
        message: str,
        *,
        backend: str = "",
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.backend = backend
        self.status = status
        self.rate_limit_headers: dict[str, str] = {}
        """The answer's ``x-ratelimit-*`` headers (lower-case names), when it had any.

        Their meaning differs by service, so the client only keeps them
        (bounded); a backend family that knows its service reads them
        (OpenRouter's reset time and remaining requests).
        """


class BackendUnavailable(BackendError):
    """Transient: the server could not answer now. Retry with backoff.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        backend: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, backend=backend, status=status, hint=hint)
        self.retry_after = retry_after


class BackendConnectError(BackendUnavailable):
    """The connection was refused or reset: the server is down or still loading."""


class BackendTimeout(BackendUnavailable):
    """The server accepted the request but did not answer in time."""


class BackendServerError(BackendUnavailable):
    """The server answered 5xx (or 408)."""


class BackendRateLimited(BackendUnavailable):
    """The server answered 429: retried on a budget of its own, honouring ``retry_after``."""


class BackendRejected(BackendError):
    """The server refused the request (4xx other than 408/429): never retried on it."""


class ContextOverflow(BackendRejected):
    """The server refused the request because prompt plus ``max_tokens`` exceed its context.

    ``limit`` (the served context length) and ``prompt_tokens`` are the
    numbers the server's message states, when it states them. Sending the
    same request again cannot help; a backend that fits ``max_tokens`` to the
    context may refit it once from fresh numbers.
    """

    def __init__(
        self,
        message: str,
        *,
        backend: str = "",
        status: int | None = None,
        hint: str | None = None,
        limit: int | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        super().__init__(message, backend=backend, status=status, hint=hint)
        self.limit = limit
        self.prompt_tokens = prompt_tokens


class BackendNotConfigured(BackendRejected):
    """The backend cannot work in this run (its key is unset, its program missing).

    It says nothing about the page: when every other backend found no text,
    the page is still empty rather than failed.
    """


class NoTextFound(BackendRejected):
    """A local backend looked at the page and found no text (no text layer, no characters).

    Deterministic, so never retried; with a model's empty answer it makes an empty page.
    """


class BadModelOutput(BackendError):
    """The answer arrived but cannot be page text: an error in a 200, or an answer the
    server ended for a bad reason (``abort``, ``error``). Retried: a retry can differ.

    ``finish_reason`` is the model's, when known (``answer_policy.py`` reads it).
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        backend: str = "",
        status: int | None = None,
        finish_reason: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, backend=backend, status=status, hint=hint)
        self.finish_reason = finish_reason


class SimulatedServerError(DoclingHybridError):
    """The simulated server a benchmark starts in its own process did not start.

    Not a usage error: the command was right, the tool's own helper failed
    (its output, on stderr, says why).
    """


class AnswerTooLarge(BadModelOutput):
    """The answer passed the size cap while being read: refused, never buffered whole.

    Asking again would only fetch the same flood, so the page moves on.
    """

    retryable = False


class EmptyAnswer(BadModelOutput):
    """The model finished its answer but it holds no text.

    At temperature 0 the same request gets the same answer, so it is retried
    once (a server hiccup), not on the transient budget; then the next backend.
    """

    retryable = False


class LoopedAnswer(BadModelOutput):
    """The answer was cut off (``length``, or vLLM's ``repetition``): a probable loop.

    The same request would loop again; a backend with a loop ladder retries
    with a different request, any other gives the page to the next backend.
    """

    retryable = False


class WithheldAnswer(BadModelOutput):
    """A content filter withheld the answer: deterministic, so the next backend."""

    retryable = False


class Interrupted(DoclingHybridError):
    """Ctrl-C: in-flight requests were cancelled; finished pages are kept."""

    exit_code = EXIT_INTERRUPTED


_T = TypeVar("_T")


def lookup_by_mro(
    table: Mapping[type[BaseException], _T], exc_type: type[BaseException]
) -> _T | None:
    """The entry of ``exc_type``'s nearest class in ``table``, or None if no class has one.

    httpx keeps such a table for httpcore's exceptions (``HTTPCORE_EXC_MAP``,
    https://github.com/encode/httpx/blob/master/httpx/_transports/default.py)
    and scans it for the most specific match. Walking the method resolution
    order finds that match directly, and makes the table's order irrelevant,
    where an ``isinstance`` ladder breaks when a general case is listed first.
    """
    for cls in exc_type.__mro__:
        if cls in table:
            return table[cls]
    return None
