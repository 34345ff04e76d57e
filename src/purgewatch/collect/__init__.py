"""Collection: the collect/watch engine (scheduling, budgets, resumable cursors), its
config, and the state it keeps between runs. Connectors come from ``sources``; the HTTP
client, clocks and rate limits from ``net``."""
