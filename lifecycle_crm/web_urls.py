"""Dashboard routes (server-rendered pages for marketers and reps), all under the `web` namespace.

Each app keeps its own routes (`<app>/urls.py`); the framework only includes them by name, so it
imports no app.
"""

from django.urls import include, path

app_name = "web"

urlpatterns = [
    path("", include("contacts.urls")),
    path("", include("analytics.urls")),
    path("", include("campaigns.urls")),
    path("", include("loyalty.urls")),  # loyalty: programme page, member link, redeem/adjust on a contact
    path("", include("stages.urls")),  # issue 21: the stage-rule editor
    path("", include("notifications.urls")),  # issue 21: the bell
    path("", include("plays.urls")),  # plays: play list/detail, My tasks, unsubscribe (namespace web:plays)
]
