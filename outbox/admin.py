from django.contrib import admin

from outbox.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """Read-only view of the outbox: what waits, what failed and why."""

    list_display = ("id", "task", "created_at", "available_at", "attempts", "published_at")
    list_filter = ("task", ("published_at", admin.EmptyFieldListFilter))
    search_fields = ("task", "last_error")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
