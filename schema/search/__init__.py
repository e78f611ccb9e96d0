"""Search over GraphQL: the ``search`` query (the request is built by ``hub.search.query``)."""
