"""Shared runtime of the LIQUID EDGE mesh: stubs, detections, imaging, server bootstrap."""

__version__ = "0.1.0"
