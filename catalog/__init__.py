"""The hub's domain: agencies, datasets, fields, grants, records, the policy and the audit chain.

This package decides; it never opens sockets, reads the environment or knows about HTTP,
GraphQL or search. A test walks its imports to keep it that way.
"""
