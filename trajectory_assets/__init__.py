"""trajectory-assets: Tier B analysis tables from a lake of raw LLM-agent events.

Importing the package is cheap: Ray, Dagster and DuckDB load only where they are used.
"""

__version__ = "0.1.0"
