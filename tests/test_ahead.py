"""``ahead``: the next chunk made in a thread, in order, at most one ahead, errors kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from importer.pipeline._ahead import ahead


class _Source:
    """Numbers 0..n-1, noting how far making has got and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.made = 0
        self.closed = False
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                self.threads.add(threading.current_thread().name)
                if i == self.fail_at:
                    raise ValueError(f"bad chunk {i}")
                self.made = i + 1
                yield i
        finally:
            self.closed = True


def test_items_come_in_order_and_are_made_in_another_thread() -> None:
    source = _Source(50)
    assert list(ahead(source)) == list(range(50))
    assert source.closed
    assert threading.current_thread().name not in source.threads


def test_it_never_runs_more_than_one_item_ahead() -> None:
    source = _Source(10)
    seen = []
    for item in ahead(source):
        time.sleep(0.02)  # the thread has time to run ahead, if it could
        seen.append((item, source.made))
    # while the caller holds item i, at most item i+1 has been made
    assert all(made <= item + 2 for item, made in seen), seen
    assert any(made == item + 2 for item, made in seen[:-1]), seen  # it does make one ahead


def test_an_error_comes_where_its_item_would_have() -> None:
    got = []
    with pytest.raises(ValueError, match="bad chunk 3"):
        for item in ahead(_Source(10, fail_at=3)):
            got.append(item)
    assert got == [0, 1, 2]


def test_stopping_early_stops_the_thread_and_closes_the_source() -> None:
    source = _Source(1000)
    before = threading.active_count()
    for item in ahead(source):
        if item == 5:
            break
    assert source.closed
    assert source.made <= 7
    assert threading.active_count() == before


def test_an_error_in_the_caller_stops_the_thread_too() -> None:
    source = _Source(1000)
    with pytest.raises(KeyError):
        for item in ahead(source):
            if item == 2:
                raise KeyError(item)
    assert source.closed and source.made <= 4
