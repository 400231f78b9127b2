"""Gatehouse broker: policy, masking, audit cores and the I/O edges around them."""
