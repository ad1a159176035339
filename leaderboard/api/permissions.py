"""Who may call what, decided before throttles run (DRF: authentication, permissions, throttles)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission, IsAuthenticated

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


def staff_or_key_with(right: str) -> type[BasePermission]:
    """A permission: staff, or a caller holding ``right`` for the request's board (service keys).

    Callers that are not staff may carry rights (a service API key's principal
    answers ``has_right(right, board_slug)``); ``board_slug`` is the view's
    ``kwargs["slug"]`` when the URL names a board, else None (a right on every board).
    """

    class StaffOrKeyWith(BasePermission):
        message = f"This needs staff or a service key with the {right!r} right."

        def has_permission(self, request, view) -> bool:
            user = request.user
            if not (user and user.is_authenticated):
                return False
            if user.is_staff:
                return True
            has_right = getattr(user, "has_right", None)
            return bool(has_right and has_right(right, getattr(view, "kwargs", {}).get("slug")))

    StaffOrKeyWith.__name__ = f"StaffOrKeyWith_{right}"
    return StaffOrKeyWith
