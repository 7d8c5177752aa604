"""The web app: server-rendered pages for people and the REST API for systems.

Nothing here is built or imported at package import time (``segmint --help`` must not load
FastAPI or SQLAlchemy); :func:`segmint.web.app.create_app` builds every resource.
"""
