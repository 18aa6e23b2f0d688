"""Form of the campaign create/edit page; model constraints (dates, cost, UTM code) checked with clear messages."""

from django import forms

from campaigns.models import Campaign


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name",
            "description",
            "objective",
            "channel",
            "status",
            "starts_on",
            "ends_on",
            "cost",
            "segment",
            "utm_campaign",
        ]
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}),
            "ends_on": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {"utm_campaign": "UTM code", "objective": "Objective (target stage)", "segment": "Target segment"}

    def clean_utm_campaign(self):
        code = (self.cleaned_data.get("utm_campaign") or "").strip()
        return code or None

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", "The campaign cannot end before it starts.")
        return data
