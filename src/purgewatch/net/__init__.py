"""The transport below the connectors: the HTTP client (retries, provenance of every
response), clocks (real and simulated) and rate-limit budgets read from response headers.

It knows nothing of platforms or the store, so connectors (``sources``) and the collect
engine (``collect``) both build on it without importing each other.
"""
