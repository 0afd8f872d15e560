"""The HTTP client for Zendesk's API: transport, pacing, error answers, auth and credentials, request stats."""
