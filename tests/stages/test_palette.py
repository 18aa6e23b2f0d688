"""The stage palette reads against the page (3 : 1) and stays distinguishable with colour blindness (issue 21)."""

import re
from pathlib import Path

import pytest

from stages.models import Stage
from stages.palette import BACKGROUNDS, CVD_MATRICES, MIN_CONTRAST, STAGE_PALETTE, closest_pair, contrast_ratio

# CIE76 ΔE below which two flat colours of a badge dot or a chart bar are easily confused.
MIN_DELTA_E = 12.0


def test_contrast_ratio_matches_the_wcag_reference_values():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the classic AA grey


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_every_stage_colour_passes_three_to_one_against_the_background(background):
    ratios = {slug: round(contrast_ratio(colour, background), 2) for slug, colour in STAGE_PALETTE.items()}
    assert all(r >= MIN_CONTRAST for r in ratios.values()), ratios


@pytest.mark.parametrize("vision", ["normal", *CVD_MATRICES])
def test_stage_colours_stay_apart_with_and_without_colour_blindness(vision):
    distance, a, b = closest_pair(STAGE_PALETTE, vision)
    assert distance >= MIN_DELTA_E, f"{a} and {b} look alike with {vision} vision (ΔE {distance:.1f})"


def test_the_old_greens_would_have_failed_the_same_checks():
    old = {"purchase": "#22c55e", "retention": "#16a34a", "loyalty": "#15803d"}
    assert contrast_ratio(old["purchase"], "#ffffff") < MIN_CONTRAST
    assert closest_pair(old, "deuteranopia")[0] < MIN_DELTA_E


@pytest.mark.django_db
def test_the_seeded_stages_carry_the_accessible_palette():
    seeded = dict(Stage.objects.filter(slug__in=STAGE_PALETTE).values_list("slug", "colour"))
    assert seeded == STAGE_PALETTE


def test_chart_series_colours_pass_three_to_one():
    source = (Path(__file__).resolve().parents[2] / "static/js/charts.js").read_text()
    palette = re.search(r"var palette = \[([^\]]+)\]", source).group(1)
    colours = re.findall(r"#[0-9a-fA-F]{6}", palette)
    assert len(colours) >= 6
    for colour in colours:
        assert contrast_ratio(colour, "#ffffff") >= MIN_CONTRAST, colour
