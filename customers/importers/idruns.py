"""New ids as runs ``(lo, hi)`` of consecutive ids (both ends included), and chunks of them.

A big import's new rows get consecutive ids from their sequence, so a million new tickets are one
or two runs: the after-commit hand-off (service._announce) publishes the runs, not the ids.
"""

from collections.abc import Iterable, Iterator


def ids_chunked(ranges: Iterable[tuple[int, int]], size: int) -> Iterator[list[int]]:
    """The ids of ascending runs ``(lo, hi)`` in ascending lists of ``size`` (the last one shorter)."""
    chunk: list[int] = []
    for lo, hi in ranges:
        while lo <= hi:
            take = min(hi, lo + size - len(chunk) - 1)
            chunk.extend(range(lo, take + 1))
            lo = take + 1
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def ranges_chunked(ranges: Iterable[tuple[int, int]], size: int) -> Iterator[list[tuple[int, int]]]:
    """Ascending runs ``(lo, hi)`` cut into groups that hold ``size`` ids each (the last group fewer)."""
    group: list[tuple[int, int]] = []
    held = 0
    for lo, hi in ranges:
        while lo <= hi:
            take = min(hi, lo + size - held - 1)
            group.append((lo, take))
            held += take - lo + 1
            lo = take + 1
            if held == size:
                yield group
                group, held = [], 0
    if group:
        yield group


def runs_of(ids: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Ascending ids as runs of consecutive ids."""
    run = None
    for i in ids:
        if run and i == run[1] + 1:
            run = (run[0], i)
            continue
        if run:
            yield run
        run = (i, i)
    if run:
        yield run
