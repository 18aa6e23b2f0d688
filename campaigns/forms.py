"""Form of the campaign create/edit page; model constraints (dates, cost, UTM code) checked with clear messages."""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

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
        if code and Campaign.objects.filter(utm_campaign=code).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another campaign uses this UTM code; touchpoints could not tell them apart.")
        return code or None

    def clean_cost(self):
        cost = self.cleaned_data.get("cost")
        if cost is not None and cost < 0:
            raise forms.ValidationError("The cost cannot be negative.")
        return cost

    def _post_clean(self):
        super()._post_clean()
        # The field checks above explain each database constraint next to its field; drop
        # the generic "Constraint … is violated" repeats Django adds as non-field errors.
        generic = [e for e in self.errors.get(NON_FIELD_ERRORS, []) if not str(e).startswith("Constraint")]
        if NON_FIELD_ERRORS in self.errors:
            if generic:
                self.errors[NON_FIELD_ERRORS] = self.error_class(generic)
            else:
                del self.errors[NON_FIELD_ERRORS]

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", "The campaign cannot end before it starts.")
        return data
