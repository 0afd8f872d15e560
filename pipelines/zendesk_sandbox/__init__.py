"""A local Zendesk-compatible audit-log API for demos, tests and benchmarks."""
from zendesk_sandbox.config import SandboxConfig
from zendesk_sandbox.handle import Sandbox

__all__ = ["Sandbox", "SandboxConfig"]
