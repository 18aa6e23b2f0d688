"""Dashboard routes (server-rendered pages for marketers and reps)."""

urlpatterns: list = []
