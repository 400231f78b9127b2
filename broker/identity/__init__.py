"""Who a person or a CI job is, according to the organisation's identity provider (OIDC)."""
