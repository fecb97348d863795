"""The local REST API: the original analysis endpoints, served by the engine's own loop."""

from trackdesk.api.server import API_PREFIX, ApiConfigError, ApiServer, build_app, start_api

__all__ = ["API_PREFIX", "ApiConfigError", "ApiServer", "build_app", "start_api"]
