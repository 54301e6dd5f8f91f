"""`make bench`: the mesh's throughput and latency against its own in-process ceiling.

One run measures (a) the engines in-process with no gRPC, (b) each service alone over gRPC,
(c) the whole mesh through the aggregator, at several numbers of concurrent closed-loop
streams of 640x480 JPEG frames, and prints ratios against baselines taken in the same run.
"""
