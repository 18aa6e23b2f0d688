"""Dashboard routes of notifications: the list behind the bell and the email opt-in (names stay `web:<name>`)."""

from django.urls import path

from notifications import views

urlpatterns = [
    path("notifications/", views.notification_list_view, name="notifications"),
    path("notifications/email/", views.notification_preference_view, name="notification_preference"),
]
