"""Tools that drive the mesh from outside: they import the services and the runtime, nothing
imports them (the layer contracts in pyproject.toml say so, `make lint` checks it).

`demo` (`make run`), `localmesh` (the services as local processes), `samples` (real frames from
scikit-image), `bench` (`make bench`), `soak` (`make soak`), `camera_emulator` (an ESP32-CAM on
loopback), `cameras_demo`, `camera_bench`, `kafka_broker` (the Tansu broker for demos and tests).
Server images leave this package out.
"""
