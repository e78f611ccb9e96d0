"""Record part of the schema: generated dataset types, generic record queries, the compiler."""
