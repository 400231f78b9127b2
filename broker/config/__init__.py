"""Configuration: YAML sources, the frozen config model, state-dir paths, loading and the demo."""
