"""Messages of overlapping MCAP chunks in log-time order, with bounded memory.

Chunks come in order of their start time; a heap holds the messages of the chunks read so far
and yields each one once no later chunk can hold an earlier message (the spec's reading
order). Chunks whose time ranges overlap a lot (a channel logged late, unordered writers)
would pile up in the heap: past ``budget`` bytes the rest goes through the spilling sort.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from extract_worker.readers.spill_sort import sorted_by_time

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from mcap.records import ChunkIndex

__all__ = ["merged_by_time"]


def merged_by_time(
    chunks: Iterable[tuple[int, ChunkIndex]],
    read: Callable[[ChunkIndex], Iterator[tuple[int, int, bytes]]],
    budget: int,
) -> Iterator[tuple[int, int, bytes]]:
    """``(channel, log time, data)`` of every chunk (``(order, index)`` by start time).

    ``read`` gives a chunk's ``(log time, channel, data)``. Everything left when the heap
    spills is at or after what was yielded (the heap only yields up to the next chunk's
    start), so the order holds.
    """
    heap: list[tuple[int, int, int, int, bytes]] = []
    heap_bytes = 0
    pending = iter(chunks)
    for order, chunk in pending:
        while heap and heap[0][0] <= chunk.message_start_time:
            time_ns, _, _, cid, data = heapq.heappop(heap)
            heap_bytes -= len(data)
            yield cid, time_ns, data
        for index, (time_ns, cid, data) in enumerate(read(chunk)):
            heapq.heappush(heap, (time_ns, order, index, cid, data))
            heap_bytes += len(data)
        if heap_bytes > budget:
            rest = (
                (time_ns, cid, data)
                for source in (
                    ((t, c, d) for t, _, _, c, d in heap),
                    (m for _, later in pending for m in read(later)),
                )
                for time_ns, cid, data in source
            )
            for time_ns, cid, data in sorted_by_time(rest, budget=budget):
                yield cid, time_ns, data
            return
    while heap:
        time_ns, _, _, cid, data = heapq.heappop(heap)
        yield cid, time_ns, data
