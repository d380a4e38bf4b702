"""The wallboard: a static page (``/`` and ``/wall``) reading ``/api/kpis`` and ``/api/trends``.

Everything the browser loads ships in this package (``static/``): no CDN, no web
font, no network access beyond the exporter that serves it.
"""

from exporters.wall.routes import register_wall

__all__ = ["register_wall"]
