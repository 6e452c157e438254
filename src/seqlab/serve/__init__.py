"""``seqlab serve``: trained runs behind an HTTP API (FastAPI + uvicorn) and a web page.

    from seqlab.serve import create_app, Limits
    app = create_app({"clf": seqlab.load("runs/clf")}, Limits(max_batch=32))

Parts: ``limits.py`` (what one request may ask), ``schemas.py`` (request bodies), ``errors.py`` (every
bad input -> a 4xx ``{"error": {"type", "message"}}``), ``batcher.py`` (dynamic micro-batching on a
worker thread), ``served.py`` (one loaded run: its description and its per-task calls),
``generation.py`` (streamed generation that stops when the client leaves), ``metrics.py``
(Prometheus text at ``/metrics``), ``app.py`` (the routes), ``static/`` (the page at ``/``).
"""

from .app import create_app
from .limits import Limits

__all__ = ["create_app", "Limits"]
