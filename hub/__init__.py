"""The hub application: settings, database and search clients, auth, HTTP app, CLI."""
