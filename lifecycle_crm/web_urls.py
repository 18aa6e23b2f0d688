"""Dashboard routes (server-rendered pages for marketers and reps), all under the `web` namespace."""

from django.urls import include, path

app_name = "web"

urlpatterns = [
    path("", include("plays.urls")),  # plays: play list/detail, My tasks, unsubscribe (namespace web:plays)
]
