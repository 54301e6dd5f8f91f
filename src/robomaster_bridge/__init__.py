"""The RoboMaster bridge: a standalone program run by the DJI SDK's own Python (3.6-3.8).

`bridge.py` is the whole program: one file that imports only the standard library (and the
SDK), so it runs by path under any interpreter that has the SDK, with nothing of ours beside it
that could shadow the SDK's `robomaster` package. It is a package of its own, outside
`robotclient`, so that it ships in the wheel where `robotclient --spawn-bridge` finds it
(`robotclient.drivers.bridge.BRIDGE_SCRIPT`).
"""
