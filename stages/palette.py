"""The default stage palette and the colour arithmetic that checks it (WCAG contrast, colour-blind simulation).

Why: stage colours mark badges, chart bars and the history line; they must read against the page (3 : 1, the
WCAG minimum for graphics) and stay apart for people with red-green or blue-yellow colour blindness, so the
check is arithmetic a test can run rather than a judgement by eye.
"""

from __future__ import annotations

import itertools
import math

# slug → colour. Hues keep their meaning (blue prospects, greens customers, purple advocates, amber/red exits)
# while lightness differs enough that purchase, retention and loyalty stay apart without colour vision.
STAGE_PALETTE: dict[str, str] = {
    "awareness": "#767f91",
    "engagement": "#0b6fd6",
    "consideration": "#2b1f9e",
    "purchase": "#0f9a62",
    "retention": "#176768",
    "loyalty": "#3d5a12",
    "advocacy": "#8e2aa3",
    "at_risk": "#a86e00",
    "churned": "#cc2f3c",
}
# The backgrounds stage colours are drawn on: cards (white) and the page.
BACKGROUNDS = ("#ffffff", "#f6f7f9")
MIN_CONTRAST = 3.0

# Machado, Oliveira & Fernandes (2009) simulation matrices at full severity, applied to linear RGB.
CVD_MATRICES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a #rrggbb colour."""
    r, g, b = (_linear(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _lab(linear_rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    r, g, b = (min(max(c, 0.0), 1.0) for c in linear_rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def lab_as_seen(colour: str, vision: str = "normal") -> tuple[float, float, float]:
    """CIELAB of the colour as seen with normal vision or one of CVD_MATRICES' colour blindnesses."""
    rgb = tuple(_linear(c) for c in _rgb(colour))
    if vision != "normal":
        m = CVD_MATRICES[vision]
        rgb = tuple(sum(m[i][j] * rgb[j] for j in range(3)) for i in range(3))
    return _lab(rgb)


def closest_pair(palette: dict[str, str], vision: str = "normal") -> tuple[float, str, str]:
    """The two colours of `palette` nearest each other (CIE76 ΔE) as seen with `vision`: (ΔE, key, key)."""
    seen = {key: lab_as_seen(colour, vision) for key, colour in palette.items()}
    return min((math.dist(seen[a], seen[b]), a, b) for a, b in itertools.combinations(seen, 2))
