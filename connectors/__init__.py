"""Source adapters (PostgreSQL, MySQL/MariaDB, CSV/XLSX, HTTP JSON) and the sync engine that
writes through ``catalog.records`` (DESIGN.md §7). May import ``catalog`` only."""
