"""Make the next item of an iterator in a thread while the caller works on the current one.

Reading and validating a chunk and writing the previous chunk's results are both mostly
pyarrow work, which runs without the GIL: on two cores they overlap. Hand-written because
the standard library has no bounded read-ahead for a generator (``concurrent.futures``
maps over known inputs; a ``Queue`` alone lets the producer run ahead without limit, and
each chunk in memory costs tens of MB).
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Item(Generic[T]):
    value: T


@dataclass(frozen=True, slots=True)
class _Raised:
    error: BaseException


_END = object()
_M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.cache
def _share_malloc_arenas() -> None:
    """Let threads share glibc's malloc arenas (at most two) instead of each reserving its
    own 64 MB of address space: under an address-space limit (ulimit -v) the extra threads
    would otherwise fail a big file with MemoryError. The chunks' text lives in pyarrow's
    own allocator; what goes through malloc here is small. Nothing to do off glibc."""
    try:  # the interpreter's own symbols: the C library it runs on (no ldconfig search)
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    except OSError:
        return
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, 2)


def ahead(items: Iterable[T], name: str = "leadimport-ahead") -> Iterator[T]:
    """``items`` in order, the next one made in a thread while the caller has this one.

    At most two items exist at once: the one the caller holds and the one being made (the
    thread waits until the caller asks for the next before it starts a third). An error
    raised while making an item is raised here, in the caller, where that item would have
    come. When the caller stops early (break, an error, Ctrl-C), the thread stops after the
    item it is making and ``items`` is closed there.
    """
    _share_malloc_arenas()
    out: SimpleQueue[object] = SimpleQueue()
    room = threading.Semaphore(2)  # the caller's item and the one being made
    stop = threading.Event()

    def make() -> None:
        source = iter(items)
        try:
            while True:
                room.acquire()
                if stop.is_set():
                    return
                try:
                    value = next(source)
                except StopIteration:
                    out.put(_END)
                    return
                out.put(_Item(value))
        except BaseException as error:  # handed to the caller, who raises it
            out.put(_Raised(error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=make, name=name, daemon=True)
    worker.start()
    try:
        while True:
            got = out.get()
            if got is _END:
                return
            if isinstance(got, _Raised):
                raise got.error
            assert isinstance(got, _Item)
            value = got.value
            del got
            yield value
            del value  # the caller is done with it: nothing here keeps it alive
            room.release()  # make another
    finally:
        stop.set()
        room.release()  # wake the thread if it waits for room
        worker.join()
