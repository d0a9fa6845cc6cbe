"""The loop shared by every message-based task: one pass over the selected topics.

Each selected topic gets a handler; messages are read once in time order (the reader only
touches chunks that hold a selected topic), downsampled before they are decoded, and handed
to their topic's handler. A topic whose type is unknown is skipped and recorded in the
manifest, unless ``--topics`` named it, which fails the task.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any, Protocol

from extract_worker.downsample import Downsampler
from extract_worker.errors import BadInputError, UnknownTypeError
from extract_worker.logs import log
from extract_worker.readers.base import MessageReader

if TYPE_CHECKING:
    from collections.abc import Callable

    from extract_worker.commit import OutputFile
    from extract_worker.extractors.context import TaskContext

__all__ = ["TopicHandler", "run_message_task"]


class TopicHandler(Protocol):
    """Turns one topic's messages into staged files."""

    def add(self, time_ns: int, message: Any) -> None:
        """Take one decoded message."""

    def close(self) -> list[OutputFile]:
        """Finish the files and describe them."""


def run_message_task(
    ctx: TaskContext,
    make_handler: Callable[[TaskContext, str, str, Downsampler], TopicHandler],
    *,
    raw: bool = False,
) -> None:
    """Run handlers over the topics this task selects; ``raw`` hands them undecoded bytes."""
    reader = ctx.reader
    if not isinstance(reader, MessageReader):
        return
    handlers: dict[str, tuple[TopicHandler, Downsampler, Callable[[bytes], Any] | None]] = {}
    msgtypes: dict[str, str] = {}
    for stream in ctx.selected(reader.streams()):
        try:
            decode = None if raw else reader.decoder(stream.name)
        except UnknownTypeError as err:
            if ctx.explicitly_requested(stream.name):
                raise
            log.error(str(err), extra={"topic": stream.name, "msgtype": stream.msgtype})
            ctx.output.errors.append(
                {"stream": stream.name, "msgtype": stream.msgtype, "error": str(err)}
            )
            continue
        sampler = Downsampler(ctx.config.downsampling_for(stream.name))
        msgtypes[stream.name] = stream.msgtype
        handlers[stream.name] = (
            make_handler(ctx, stream.name, stream.msgtype, sampler),
            sampler,
            decode,
        )
    if not handlers:
        return
    # Handlers hold tens of thousands of decoded messages until they flush; the cyclic GC
    # would traverse them again and again (none of them form cycles), costing ~30%.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for topic, time_ns, data in reader.messages(sorted(handlers)):
            handler, sampler, decode = handlers[topic]
            if sampler.keep(time_ns):
                message = data if decode is None else decode(data)
                try:
                    handler.add(time_ns, message)
                except (AttributeError, KeyError) as err:
                    # The recording's own definition of the type (ROS 1 bags and MCAP carry
                    # it) lacks a field the standard type has: the input's fault, which a
                    # retry cannot fix.
                    raise BadInputError(
                        f"topic {topic}: its {msgtypes[topic]} messages have no field "
                        f"{_missing_field(err)!r}, which the {ctx.kind} extractor reads (the "
                        "recording defines the type differently from the standard one)",
                        path=str(reader.path),
                    ) from err
    finally:
        if gc_was_enabled:
            gc.enable()
    for topic in sorted(handlers):
        for item in handlers[topic][0].close():
            ctx.output.add(item)


def _missing_field(err: AttributeError | KeyError) -> str:
    if isinstance(err, AttributeError):
        return err.name or str(err)
    return str(err.args[0]) if err.args else str(err)
