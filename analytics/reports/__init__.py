"""One module per report: a typed query, validation, one set-based SQL statement, a typed result."""
