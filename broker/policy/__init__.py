"""Policy: access and command rules, the shell parse command rules decide on, the loader (pure)."""
