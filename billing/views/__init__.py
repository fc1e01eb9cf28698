"""API views of the billing use cases, one module per area (routed by billing.urls)."""
