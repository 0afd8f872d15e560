"""Shared fixtures. dlt's state goes to a temporary folder so tests never touch ~/.dlt."""
from __future__ import annotations

import os
import tempfile

# Must happen before dlt is imported anywhere: dlt reads DLT_DATA_DIR when it builds pipelines.
os.environ.setdefault("DLT_DATA_DIR", tempfile.mkdtemp(prefix="zendesk-audit-dlt-"))
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
