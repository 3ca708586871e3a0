"""Parts of bench/node_throughput.py: endpoints (camera, receiver), children (the
process roles), layouts (three processes or one), phases (the measurement)."""
