"""Search over the catalogue and shared records through OpenSearch (DESIGN.md §8).

``names`` and ``documents`` fix what is indexed and where (the contract of the query side);
``client`` opens the connection; ``indexer`` drains ``search_outbox``; ``reindex`` rebuilds
from PostgreSQL; ``embedded`` runs the in-memory server when no cluster is configured.
"""
