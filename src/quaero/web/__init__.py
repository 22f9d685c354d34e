"""The web layer: REST API, WebSocket hub and dashboard, served by one ASGI app."""

from .app import create_app

__all__ = ["create_app"]
