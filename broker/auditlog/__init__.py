"""The audit log on disk: writer task, segments, checkpoints, sinks, evidence bundles, CLI."""
