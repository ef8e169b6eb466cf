"""The project's defs folder: Dagster loads every defs.yaml below it."""
