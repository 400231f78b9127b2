"""What every layer shares: the error hierarchy and YAML sources that keep line numbers."""
