"""The link to the mesh: newest frame only, one frame in flight, reconnects on its own.

`MeshLink` (`mesh_link.py`) owns the worker thread, the one-slot mailbox and the reconnect
back-off; the protocol is a transport it drives: `v1.py` streams on `Detector/DetectStream`,
`legacy.py` speaks the deployed robots' unary `ObjectDetection/ObjectDetect`. Both book what
happened in one `LinkLedger` (`ledger.py`): each frame's outcome, the serving edge, outages.
"""

from robotclient.link.ledger import LinkLedger
from robotclient.link.mesh_link import MeshLink
from robotclient.link.values import Answer, Failure, LinkSettings, OutgoingFrame

__all__ = ["Answer", "Failure", "LinkLedger", "LinkSettings", "MeshLink", "OutgoingFrame"]
