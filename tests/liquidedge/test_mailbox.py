"""The one-slot mailbox robots and the camera gateway send from: newest wins, nothing queues."""

from __future__ import annotations

import threading

from liquidedge.mailbox import Mailbox


def test_mailbox_replaces_and_puts_back() -> None:
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is False
    assert box.put(2) is True
    assert box.take(0) == 2
    assert box.take(0) is None
    box.put_back(3)
    box.put(4)
    box.put_back(5)  # a newer item is waiting: the old one is not put back over it
    assert box.take(0) == 4
    box.close()
    assert box.take(None) is None


def test_a_waiting_reader_wakes_for_the_newest_item_or_the_close() -> None:
    box: Mailbox[str] = Mailbox()
    taken: list[str | None] = []
    reader = threading.Thread(target=lambda: taken.append(box.take(10)))
    reader.start()
    box.put("frame-1")
    reader.join(10)
    assert taken == ["frame-1"]
    assert box.wait(0) is False
    box.put("frame-2")
    assert box.wait(0) is True  # waiting does not take it
    closer = threading.Timer(0.05, box.close)
    closer.start()
    assert box.take(0) == "frame-2"
    assert box.take(10) is None  # woken by the close, not by the timeout
    closer.join()
