"""Encrypted backups of the hub database and their restore (DESIGN.md §9; 000 Điều 25,
001 Điều 13.2: backups at least weekly, and restore must work).

``dump`` seals pg_dump's archive as it streams (``sealed`` is the file format), ``restore``
authenticates the whole file before anything reaches the database and restores in one
transaction, ``tools`` finds PostgreSQL's own client tools and connects them without putting a
secret on a command line.
"""
