"""A fake of DJI's `robomaster` SDK, just the parts the bridge uses, recording every call."""

import json
import os
import threading
import time

_lock = threading.Lock()


def record(name, **kwargs):
    """Append one call to the log file the test reads (one JSON object per line)."""
    entry = {"call": name, "t": time.monotonic()}
    entry.update(kwargs)
    path = os.environ.get("FAKE_ROBOMASTER_LOG")
    if not path:
        return
    with _lock, open(path, "a") as log_file:
        log_file.write(json.dumps(entry) + "\n")
