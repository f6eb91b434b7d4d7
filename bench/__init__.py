"""`make bench`: the gateway's throughput measured side by side with bare reference clients.

Every figure is a ratio of two timings taken in the same run on the same machine (which is shared
and noisy), so a figure says how far the engine is from what the wire and the database allow.
See docs/benchmark.md for what each measurement does and how to run it.
"""
