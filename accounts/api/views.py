from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import user_register

from .serializers import RegisterInputSerializer, UserOutputSerializer


class RegisterView(APIView):
    """Create an account; log in afterwards with the token endpoint."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RegisterInputSerializer, responses={201: UserOutputSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    """The authenticated user."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UserOutputSerializer, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)
