"""Dashboards in the BI tool a team runs: the Superset bundle and its import (`zendesk-audit dashboards`)."""
