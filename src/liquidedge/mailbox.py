"""A one-slot mailbox: the newest item replaces an unread one, so no backlog can build up.

A client that queues camera frames while the mesh is slow ends up acting on pictures of the
past; with one slot the sender always takes the freshest frame, and the writer learns from
`put` that it replaced one (to count it as dropped).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    def __init__(self) -> None:
        self._item: T | None = None
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T) -> bool:
        """Leave `item` for the reader; True when it replaced an unread one."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify_all()
            return replaced

    def wait(self, timeout_s: float | None = None) -> bool:
        """True once an item is waiting (without taking it); False on timeout or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout_s)
            return self._item is not None and not self._closed

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item, or None after `timeout_s` seconds or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout_s)
            item, self._item = self._item, None
            return item

    def put_back(self, item: T) -> None:
        """Return an item taken but not used, unless a newer one arrived meanwhile."""
        with self._cond:
            if self._item is None:
                self._item = item
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
