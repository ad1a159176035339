from __future__ import annotations

from rest_framework import serializers

from accounts.models import User, handle_validator


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=64, validators=[handle_validator])
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class UserOutputSerializer(serializers.ModelSerializer):
    user_id = serializers.CharField(source="username", read_only=True)
    # May be blank (players created by trusted servers have none), so no email format.
    email = serializers.CharField(read_only=True, allow_blank=True)

    class Meta:
        model = User
        fields = ["user_id", "username", "email", "is_staff", "date_joined"]
        read_only_fields = fields


class DeleteAccountInputSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
