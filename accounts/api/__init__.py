"""REST API plumbing owned by accounts: API-key authentication, role permissions, per-principal throttling."""
