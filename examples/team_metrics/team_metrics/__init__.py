"""A team's own tables, written only against trajectory_assets' public API."""
