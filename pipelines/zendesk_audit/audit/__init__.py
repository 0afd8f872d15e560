"""What auditors read: the period, alerts, the evidence export, the report."""
