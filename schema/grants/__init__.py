"""Grants over GraphQL: list, request, decide, revoke (the domain is ``catalog.grants``)."""
