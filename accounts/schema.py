"""OpenAPI description of the project's JWT authentication (drf-spectacular)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class CachedJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.CachedJWTAuthentication"
    name = "jwtAuth"
