"""Make an account a trusted server: it may submit for other users and to authoritative boards."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User


class Command(BaseCommand):
    help = (
        "Grant (or with --revoke, take back) the submit_for_others permission: the account's tokens may then "
        "submit for any user and to authoritative boards (a trusted game server)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="an existing account (register it first: POST /api/v1/auth/register)")
        parser.add_argument("--revoke", action="store_true", help="take the permission back")

    def handle(self, *args, username: str, revoke: bool, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}; register it first (POST /api/v1/auth/register).")
        permission = Permission.objects.get(content_type__app_label="accounts", codename="submit_for_others")
        if revoke:
            user.user_permissions.remove(permission)
        else:
            user.user_permissions.add(permission)
        # A fresh instance: Django caches a user's permissions on the object it checked them on.
        trusted = User.objects.get(pk=user.pk).can_submit_for_others()
        self.stdout.write(f"{username}: {'trusted server' if trusted else 'not trusted'} (submit_for_others)")
        if revoke and trusted:
            self.stdout.write("  still trusted: the account is staff or holds the permission through a group")
