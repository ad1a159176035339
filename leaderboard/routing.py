"""WebSocket routes, mounted under /ws/ by the ASGI application."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
