"""Who may call what, decided before throttles run (DRF: authentication, permissions, throttles)."""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated

from leaderboard import services


class SubmitPermission(IsAuthenticated):
    """An authenticated caller allowed to submit for the user the request books to.

    Records that user on the request (``request.submit_target``) for the rate
    limits, which DRF checks after permissions: limits are charged only to a
    user the caller may submit for. The view names where a request names its
    user (``view.named_user(request)``); a refusal is the service's ``Forbidden``.
    """

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        request.submit_target = services.submit_target(
            board=view.get_board(), caller=request.user, named=view.named_user(request)
        )
        return True


def named_in_body(request) -> object:
    """The ``user_id`` a JSON or form body names, raw (None if none)."""
    data = request.data
    return data.get("user_id") if hasattr(data, "get") else None
