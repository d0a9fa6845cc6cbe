"""Which failures the input bytes caused (exit 2) and which the environment caused (exit 3).

Readers translate the parse errors they know into :class:`BadInputError`. Decompressors and
parsers raise many more types than any list in a reader can name (``zstd``'s ``ZstdError``,
``isal``'s ``IsalError``, a ``ValueError`` deep in nptdms for an unsupported data type), and a
recording Batch retries because one of them slipped through fails again on every node. So the
CLI classifies whatever reaches it by where it was raised:

* an error whose type belongs to a parsing or decompression package, or that was raised in
  one of their frames (the deepest frame that is not the standard library or numpy), is the
  input's fault: exit 2;
* an ``OSError`` with an errno of the machine (disk full, I/O error, descriptors, network) is
  the environment's: exit 3, wherever it was raised;
* anything else is a bug in the worker or unknown: exit 3, and the orchestrator's retry cap
  ends it.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from extract_worker.errors import BadInputError, ExtractError, LimitExceededError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "ENVIRONMENT_ERRNOS",
    "PARSER_PACKAGES",
    "UnclassifiedError",
    "classify_failure",
    "is_input_failure",
]

# Top-level packages that read the recording's bytes: parsers, codecs and decompressors.
PARSER_PACKAGES = frozenset(
    {
        "rosbags",
        "mcap",
        "mcap_ros2",
        "zstandard",
        "zstd",
        "backports",  # backports.zstd, what rosbags decompresses MCAP chunks with
        "lz4",
        "bz2",
        "_compression",
        "zlib",
        "gzip",
        "isal",
        "igzip_lib",  # isal's C module: IsalError's home
        "lzma",
        "_lzma",
        "_bz2",
        "asammdf",
        "nptdms",
        "canmatrix",
        "cantools",
        "sqlite3",
        "PIL",
        "cv2",
        "struct",
        "codecs",
        "encodings",
        "json",
        "yaml",
    }
)
# Packages whose frames say nothing about the cause: they run on behalf of their caller.
_NEUTRAL_PACKAGES = frozenset(
    {"numpy", "heapq", "itertools", "functools", "contextlib", "io", "_io", "abc", "typing"}
)
# errnos that mean the machine, the network or storage failed, not the bytes.
ENVIRONMENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "EIO",
        "ENOSPC",
        "EDQUOT",
        "ENOMEM",
        "EMFILE",
        "ENFILE",
        "EACCES",
        "EPERM",
        "EROFS",
        "ETIMEDOUT",
        "ECONNRESET",
        "ECONNREFUSED",
        "ECONNABORTED",
        "EHOSTUNREACH",
        "ENETUNREACH",
        "ENETDOWN",
        "ESTALE",
        "EAGAIN",
        "EBUSY",
        "EINTR",
        "ENOLCK",
        "EPIPE",
    )
    if hasattr(errno, name)
)


def _package(module: str) -> str:
    return module.split(".", 1)[0]


def _deepest_owner(tb: TracebackType | None) -> str | None:
    """The top-level package of the deepest frame that is not neutral, or None."""
    owner = None
    while tb is not None:
        package = _package(str(tb.tb_frame.f_globals.get("__name__", "")))
        if package and package not in _NEUTRAL_PACKAGES:
            owner = package
        tb = tb.tb_next
    return owner


# SQLite result codes of the machine: I/O error, disk full, out of memory, busy, locked,
# cannot open (permissions); every other SQLite error on a bag is the database's content.
_SQLITE_ENVIRONMENT_CODES = frozenset({5, 6, 7, 10, 13, 14})


def _is_environment(err: BaseException) -> bool:
    if isinstance(err, OSError):
        return err.errno in ENVIRONMENT_ERRNOS
    code = getattr(err, "sqlite_errorcode", None)
    # Extended result codes keep the primary code in the low byte.
    return isinstance(code, int) and code & 0xFF in _SQLITE_ENVIRONMENT_CODES


def _input_caused(err: BaseException) -> bool:
    if _is_environment(err):
        return False
    if _package(type(err).__module__) in PARSER_PACKAGES:
        return True
    return _deepest_owner(err.__traceback__) in PARSER_PACKAGES


def _causes(err: BaseException) -> list[BaseException]:
    """``err`` and its explicit causes (``raise ... from``), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__
    return chain


def is_input_failure(err: BaseException) -> bool:
    """True when ``err`` (or what it was raised from) comes from the input's bytes."""
    chain = _causes(err)
    if any(_is_environment(e) for e in chain):
        return False
    return any(_input_caused(e) for e in chain if not isinstance(e, ExtractError))


def classify_failure(err: BaseException, *, path: str) -> ExtractError:
    """The worker error ``err`` amounts to; its message names ``path`` and the cause."""
    if isinstance(err, MemoryError):
        return LimitExceededError("parsing needed more memory than the task limit", path=path)
    if isinstance(err, ExtractError):
        if err.retryable and is_input_failure(err):
            # A reader took a parser's errno-carrying OSError (a seek to an offset the
            # damaged file names, EINVAL) for an I/O failure: it is the input's.
            return BadInputError(f"{err} (the damaged input names a bad offset or size)")
        return err
    if is_input_failure(err):
        detail = str(err) or "no detail"
        return BadInputError(f"{type(err).__name__}: {detail}", path=path)
    return UnclassifiedError(err)


class UnclassifiedError(ExtractError):
    """Not proven to be the input's fault: a bug or the environment, retryable."""

    def __init__(self, err: BaseException) -> None:
        self.original = err
        super().__init__(f"unexpected failure: {type(err).__name__}: {err}")
