"""The GraphQL schema: static catalogue types and the types generated from the catalogue."""
