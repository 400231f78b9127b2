"""Gatehouse broker: policy, masking, audit cores and the I/O edges around them."""

import warnings

# asyncssh 2.24.1 (pinned: the AEAD fast path patches it) names DSA key types, and recent
# cryptography releases (51 here) warn about them at import: ten lines on every `gatehouse`
# command and in every broker log, about a key type nobody chose.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh\.")
