"""Types every layer shares: the error hierarchy."""
