"""Darknet models in PyTorch: our own `.cfg` parser, `.weights` loader and `nn.Module`.

Only `cfg` is importable without torch; `model` and `weights` need the `torch` extra, so
importing `yolodetection` never pulls torch in.
"""
