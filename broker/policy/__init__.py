"""Access policy: rules, the loader and access decisions (pure)."""
