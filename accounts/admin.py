"""Admin for API keys: create one (the key is shown once, on the page after saving) and revoke keys."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke


class ApiKeyCreateForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "role", "user", "expires_at"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("role") == "sales_rep" and not cleaned.get("user"):
            raise ValidationError({"user": "A sales-rep key acts for a sales rep: choose the user."})
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "user", "prefix", "status", "created_at", "last_used_at", "expires_at"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    raw_id_fields = ["user"]
    actions = ["revoke_selected"]
    readonly_fields = ["prefix", "status", "created_by", "created_at", "last_used_at", "revoked_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "role", "user", "expires_at"]
        return ["name", "role", "user", "expires_at", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The role and the user define what a key may do; change them by issuing a new key.
        return [*self.readonly_fields, "role", "user"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw_key = api_key_create(
            name=obj.name, role=obj.role, user=obj.user, created_by=request.user, expires_at=obj.expires_at
        )
        obj.pk = key.pk
        obj.__dict__.update({k: v for k, v in key.__dict__.items() if not k.startswith("_")})
        messages.warning(
            request,
            f"The new API key is {raw_key} — copy it now: it is stored hashed and will not be shown again.",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request, queryset):
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key)
            count += 1
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
