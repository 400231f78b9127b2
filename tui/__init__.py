"""Gatehouse terminal interface (Textual), served over SSH by the broker."""
