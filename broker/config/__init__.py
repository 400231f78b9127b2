"""Configuration: the frozen config model, state-dir layout and provisioning, loading."""
