from django.urls import path
from rest_framework.routers import SimpleRouter

from loyalty.api.views import (
    AdjustmentApi,
    MemberApi,
    MemberEntriesApi,
    MemberTierChangesApi,
    ProgrammeViewSet,
    RedemptionViewSet,
    ReferralSignUpApi,
    ReferralViewSet,
    RewardViewSet,
)

router = SimpleRouter()
router.register("loyalty/programmes", ProgrammeViewSet, basename="loyalty-programme")
router.register("loyalty/rewards", RewardViewSet, basename="loyalty-reward")
router.register("loyalty/redemptions", RedemptionViewSet, basename="loyalty-redemption")
router.register("loyalty/referrals", ReferralViewSet, basename="loyalty-referral")
urlpatterns = [
    path("loyalty/members/<str:pk>/", MemberApi.as_view(), name="loyalty-member"),
    path("loyalty/members/<str:pk>/entries/", MemberEntriesApi.as_view(), name="loyalty-member-entries"),
    path("loyalty/members/<str:pk>/tier-changes/", MemberTierChangesApi.as_view(), name="loyalty-member-tiers"),
    path("loyalty/adjustments/", AdjustmentApi.as_view(), name="loyalty-adjustments"),
    path("loyalty/referrals/sign-up/", ReferralSignUpApi.as_view(), name="loyalty-referral-sign-up"),
    *router.urls,
]
