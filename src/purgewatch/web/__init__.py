"""Local web UI and JSON API over the evidence store (see docs/web.md).

    from purgewatch.web import create_app
    app = create_app("./evidence", write_token=None)   # an ASGI app; serve with uvicorn
"""

from purgewatch.web._app import create_app, web_csp

__all__ = ["create_app", "web_csp"]
