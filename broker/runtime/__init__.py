"""The broker process: startup, worker processes, event loop, GC policy and the loop watchdog."""
