"""A one-slot mailbox: the newest item replaces an unsent one, so no backlog can build up.

A robot that queues frames while the mesh is slow ends up steering on pictures of the past;
with one slot the link always sends the freshest frame and counts the ones it skipped.
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
        self.replaced = 0

    def put(self, item: T) -> bool:
        """Leave `item` for the reader; returns True when it replaced an unread one."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.replaced += 1
            self._item = item
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, or None after `timeout` seconds or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
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
