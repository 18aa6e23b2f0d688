"""Admin for webhooks: subscriptions (with why they were disabled) and the delivery log."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from webhooks.models import WebhookDelivery, WebhookSubscription
from webhooks.services import _events_clean, webhook_subscription_create, webhook_subscription_update
from webhooks.targets import webhook_url_clean


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "is_active"]

    def clean_url(self):
        try:
            return webhook_url_clean(self.cleaned_data.get("url"))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_events(self):
        try:
            return _events_clean(self.cleaned_data.get("events"))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "is_active", "consecutive_failures", "disabled_reason", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    readonly_fields = ["consecutive_failures", "disabled_at", "disabled_reason", "created_by", "created_at"]
    form = WebhookSubscriptionForm

    def save_model(self, request, obj, form, change):
        data = {"name": obj.name, "url": obj.url, "events": obj.events}
        if change:
            fresh = WebhookSubscription.objects.get(pk=obj.pk)
            webhook_subscription_update(subscription=fresh, data={**data, "is_active": obj.is_active})
            return
        created, secret = webhook_subscription_create(**data, created_by=request.user)
        obj.pk = created.pk
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})
        messages.warning(request, f"The signing secret is {secret} — copy it now; it is not shown again.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "subscription", "event", "status", "attempts", "response_status", "response_ms", "created_at"]
    list_filter = ["status", "event"]
    list_select_related = ["subscription"]
    raw_id_fields = ["subscription"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False
