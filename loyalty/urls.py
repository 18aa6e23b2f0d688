"""Dashboard routes of loyalty (namespace web:loyalty… names under `web`)."""

from django.urls import path

from loyalty import views

urlpatterns = [
    path("loyalty/", views.programme_view, name="loyalty"),
    path("loyalty/me/<str:token>/", views.member_view, name="loyalty_member"),
    path("contacts/<int:pk>/loyalty/redeem/", views.contact_redeem_view, name="loyalty_redeem"),
    path("contacts/<int:pk>/loyalty/adjust/", views.contact_adjust_view, name="loyalty_adjust"),
]
