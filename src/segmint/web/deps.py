"""Typed dependency aliases for route functions. Every resource comes from ``app.state``, where
:func:`segmint.web.app.create_app` put it, so tests swap one by setting the attribute or through
``app.dependency_overrides``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from segmint.settings import Settings
from segmint.store import SalesStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> SalesStore:
    return request.app.state.store


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SalesStore, Depends(get_store)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
