"""Review services: recordings and audit records as reviewers and auditors may see them."""
