from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .models import ServiceKey, User

# The library's own key model is unused (ServiceKey replaces it): keep it out of the admin.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "is_active", "date_joined")
    search_fields = ("username__startswith", "email__startswith")
    show_full_result_count = False


class ServiceKeyForm(forms.ModelForm):
    rights = forms.MultipleChoiceField(
        choices=ServiceKey.Right.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = ServiceKey
        fields = ["name", "expiry_date", "revoked", "rights", "boards"]


@admin.register(ServiceKey)
class ServiceKeyAdmin(APIKeyModelAdmin):
    """The library's key admin (the key is shown once, on creation), with our scopes and last use."""

    form = ServiceKeyForm
    list_display = ("prefix", "name", "rights", "boards", "created", "expiry_date", "last_used_at", "revoked")
    list_filter = ("revoked", "created")

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "last_used_at")
