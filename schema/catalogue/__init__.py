"""Catalogue part of the schema: agencies, datasets, fields, the caller."""
