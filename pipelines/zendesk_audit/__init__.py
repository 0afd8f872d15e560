"""Load the Zendesk audit log into DuckDB or any dlt destination, exactly once."""
