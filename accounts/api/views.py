from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView

from accounts.service_keys import IsAccountHolder
from accounts.services import user_register
from leaderboard.api.throttles import LoginFailureThrottle, RegisterRateThrottle, login_failed
from leaderboard.moderation import player_erase
from leaderboard_project.exceptions import Forbidden

from .serializers import DeleteAccountInputSerializer, RegisterInputSerializer, UserOutputSerializer


class RegisterView(APIView):
    """Create an account; log in afterwards with the token endpoint."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [RegisterRateThrottle]

    @extend_schema(request=RegisterInputSerializer, responses={201: UserOutputSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(TokenObtainPairView):
    """simplejwt's pair endpoint, refusing usernames and addresses with too many failed logins."""

    throttle_classes = [LoginFailureThrottle]

    def post(self, request: Request, *args, **kwargs) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            login_failed(request)
            raise


class MeView(APIView):
    """The authenticated user (a service key has no account: 403)."""

    permission_classes = [IsAccountHolder]

    def get_throttles(self):
        # Deleting needs the password: wrong ones count like failed logins, and lock out alike.
        return [LoginFailureThrottle()] if self.request.method == "DELETE" else []

    @extend_schema(responses=UserOutputSerializer, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(
        request=DeleteAccountInputSerializer,
        responses={204: None},
        tags=["auth"],
        summary="Delete my account (erasure)",
        description="Needs the account's password (403 when wrong: nothing changes). Removes every score from "
        "every board, revokes every token and replaces the user id with a tombstone in the kept history.",
    )
    def delete(self, request: Request) -> Response:
        data = DeleteAccountInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not request.user.check_password(data.validated_data["password"]):
            login_failed(request)
            raise Forbidden("The password is wrong; nothing was changed.")
        player_erase(
            user_id=request.user.get_username(), actor="self", reason="deleted by the player", may_touch_staff=True
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
