"""Tools that drive the mesh from outside: they import the services and the runtime, nothing
imports them (the layer contracts in pyproject.toml say so, `make lint` checks it).

`demo` (`make run`), `localmesh` (the three services as local processes), `samples` (real
frames from scikit-image), `bench` (`make bench`), `soak` (`make soak`). Server images leave
this package out.
"""
