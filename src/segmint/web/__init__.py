"""The web app: server-rendered pages for people (and, later, the REST API for systems).

Nothing here is built at import time; :func:`segmint.web.app.create_app` builds every resource.
"""

from segmint.web.app import create_app

__all__ = ["create_app"]
