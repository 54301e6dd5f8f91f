"""Tools that drive the mesh from outside: emulators, benchmarks, demos, local launchers."""
