"""One clip measurement in its own process (peak RSS belongs to it alone).

``python -m bench.clip_probe MODE SOURCE.mcap FROM_NS TO_NS OUT.mcap`` prints one JSON line:
messages, seconds and peak RSS. MODE ``clip`` runs ``dataops.clips.writer.write_clip``;
``plain`` is the reference: the mcap library's own indexed read of the window and a plain
``Writer`` of the same messages (schemas and channels registered as met, zstd chunks).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

from bench.mcap_metadata_probe import report
from dataops.clips.writer import ClipSource, ClipWindow, write_clip


def _plain(source: Path, start: int, end: int, out: Path) -> int:
    count = 0
    with source.open("rb") as handle, out.open("wb") as sink:
        writer = Writer(sink, compression=CompressionType.ZSTD)
        writer.start()
        schemas: dict[int, int] = {}
        channels: dict[int, int] = {}
        for schema, channel, message in make_reader(handle).iter_messages(
            starting_at=start, ending_at=end, log_time_order=True
        ):
            if schema is not None and schema.id not in schemas:
                schemas[schema.id] = writer.register_schema(
                    schema.name, schema.encoding, schema.data
                )
            if channel.id not in channels:
                channels[channel.id] = writer.register_channel(
                    channel.topic,
                    channel.message_encoding,
                    schemas.get(channel.schema_id, 0),
                    dict(channel.metadata),
                )
            writer.add_message(
                channels[channel.id], message.log_time, message.data, message.publish_time
            )
            count += 1
        writer.finish()  # type: ignore[no-untyped-call]
    return count


def main() -> None:
    mode, source, start, end, out = sys.argv[1:6]
    started = time.perf_counter()
    if mode == "clip":
        with Path(out).open("wb") as sink:
            stats = write_clip(
                [ClipSource("mcap", Path(source), "bench.mcap")],
                ClipWindow(int(start), int(end)),
                sink,
            )
        messages = sum(stats.messages.values())
    else:
        messages = _plain(Path(source), int(start), int(end), Path(out))
    report(mode, messages, started)


if __name__ == "__main__":
    main()
