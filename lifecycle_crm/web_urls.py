"""Dashboard routes (server-rendered pages for marketers and reps)."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("plays.urls")),  # plays: play list/detail, My tasks, unsubscribe
]
