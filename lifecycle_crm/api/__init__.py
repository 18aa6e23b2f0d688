"""Shared REST API plumbing: API-key authentication, role permissions, errors, throttles, pagination."""
