"""Dashboard routes of stages: the stage-rule list and editor (names stay `web:<name>`)."""

from django.urls import path

from stages import views

urlpatterns = [
    path("rules/", views.stage_rule_list_view, name="stage_rule_list"),
    path("rules/new/", views.stage_rule_create_view, name="stage_rule_create"),
    path("rules/<int:pk>/", views.stage_rule_edit_view, name="stage_rule_edit"),
]
