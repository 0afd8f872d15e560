"""Loading into the destination: pipelines and their state, one chunk runner for API and CSV, accounts, locks."""
