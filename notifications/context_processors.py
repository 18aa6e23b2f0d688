"""The bell in the top bar: the signed-in user's unread notification count."""

from django.http import HttpRequest

from notifications.selectors import notification_unread_count


def bell(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": notification_unread_count(user=user)}
