"""A dg project whose only definitions are a defs.yaml (see dg.toml)."""
