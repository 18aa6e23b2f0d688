"""Dashboard routes of plays: the play list and pages, reps' tasks, and the public unsubscribe link."""

from django.urls import path

from plays import views

app_name = "plays"

urlpatterns = [
    path("plays/", views.play_list_view, name="play_list"),
    path("plays/<int:pk>/", views.play_detail_view, name="play_detail"),
    path("plays/new/", views.play_create_view, name="play_create"),
    path("plays/<int:pk>/edit/", views.play_edit_view, name="play_edit"),
    path("plays/preview/", views.play_preview_view, name="play_preview"),
    path("plays/<int:pk>/actions/<int:action_pk>/test-send/", views.play_test_send_view, name="play_test_send"),
    path("plays/<int:pk>/status/", views.play_status_view, name="play_status"),
    path("tasks/", views.my_tasks_view, name="my_tasks"),
    path("tasks/<int:pk>/complete/", views.task_complete_view, name="task_complete"),
    path("contacts/<int:contact_pk>/tasks/", views.task_create_view, name="task_create"),
    path("unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
]
