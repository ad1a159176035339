from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from . import schema  # noqa: F401 - registers the OpenAPI extension
        from .authentication import user_cache_clear

        user = get_user_model()
        post_save.connect(user_cache_clear, sender=user, dispatch_uid="user_cache_clear_save")
        post_delete.connect(user_cache_clear, sender=user, dispatch_uid="user_cache_clear_delete")
        m2m_changed.connect(user_cache_clear, sender=user.user_permissions.through, dispatch_uid="user_cache_perms")
        m2m_changed.connect(user_cache_clear, sender=user.groups.through, dispatch_uid="user_cache_groups")
