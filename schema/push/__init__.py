"""Owner systems push records: the ``upsertRecords`` mutation and the shared push path that
the streaming upload endpoint (``hub.ingest_http``) uses too."""
