"""How a Redis URL names a cluster: the one rule the settings and the store both follow.

``redis+cluster://host:port`` (``rediss+cluster://`` with TLS) names a Redis Cluster by
any of its nodes; so does a plain ``redis://`` URL when ``REDIS_CLUSTER`` is true. Pure:
imported by the settings, so it reads nothing from them.
"""

from __future__ import annotations

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def cluster_node(url: str, *, cluster: bool = False) -> str | None:
    """The plain ``redis://`` (or ``rediss://``) URL of the node a cluster URL names; None for one server."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in CLUSTER_SCHEMES:
        return f"{scheme.split('+', 1)[0]}://{rest}"
    if cluster and scheme in ("redis", "rediss"):
        return url
    return None
