"""The web app and its HTTP API (`sermsim serve`): see :mod:`.app`."""

from sermsim.interfaces.web.app import create_app, serve

__all__ = ["create_app", "serve"]
