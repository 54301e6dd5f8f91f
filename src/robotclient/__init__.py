"""The robot client: camera frames to the mesh, boxes back, tracker and behaviour to the chassis.

Logic modules (tracker, target, behaviour, controller) are pure and take their inputs, the clock
included, as arguments; hardware lives behind `FrameSource` and `Driver` and is imported lazily.
"""
