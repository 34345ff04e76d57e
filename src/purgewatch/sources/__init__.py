"""Platform connectors (one module each, one protocol: ``protocol.py``) and file
importers (``files/``)."""
