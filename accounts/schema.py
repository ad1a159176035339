"""OpenAPI description of the project's authentication: JWTs and service API keys (drf-spectacular)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CachedJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.CachedJWTAuthentication"
    name = "jwtAuth"


class ServiceKeyScheme(OpenApiAuthenticationExtension):
    """``Authorization: Api-Key <key>``: a service API key of a game server (created in the admin)."""

    target_class = "accounts.service_keys.ServiceKeyAuthentication"
    name = "serviceKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'A service API key, sent as "Api-Key <key>".',
        }
