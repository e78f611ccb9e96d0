"""The audit trail over GraphQL: events and the monthly usage report (``catalog.usage``)."""
