"""The dlt source and what it reads from Zendesk: options, windows, Arrow batches, the cursor, CSV rows, export requests."""
