"""The polling chart: for each task model, mean lag against mean polls (Pillow, no plotting library).

Each panel is one task model. The fixed-interval frontier (0.5 s to 60 s) is a line, the adaptive
schedule a point; both network conditions are drawn (clean: dark, latency and faults: light). The
polls axis is logarithmic: a 20-minute task polled every 0.5 s takes 2,400 polls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from .polling import ScenarioResult

__all__ = ["draw"]

PANEL = (420, 300)
MARGIN = (56, 28, 16, 40)  # left, top, right, bottom
COLUMNS = 3
MAX_LAG = 16.0
COLOURS = {
    "clean": ((40, 90, 170), (200, 30, 30)),
    "faults": ((150, 180, 225), (240, 150, 60)),
}
"""Frontier line and adaptive point, per condition."""


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _panel(canvas: ImageDraw.ImageDraw, origin: tuple[int, int], pair: Sequence[ScenarioResult]) -> None:
    left, top, right, bottom = MARGIN
    x0, y0 = origin[0] + left, origin[1] + top
    width, height = PANEL[0] - left - right, PANEL[1] - top - bottom
    polls = [figures.polls_mean for result in pair for _, figures in result.frontier]
    polls += [result.adaptive.polls_mean for result in pair]
    low = 10 ** math.floor(math.log10(max(min(polls), 0.5)))
    high = 10 ** math.ceil(math.log10(max(polls)))

    def point(polls_mean: float, lag: float) -> tuple[float, float]:
        share = (math.log10(polls_mean) - math.log10(low)) / (math.log10(high) - math.log10(low))
        return x0 + share * width, y0 + height - min(lag, MAX_LAG) / MAX_LAG * height

    small = _font(11)
    canvas.rectangle((x0, y0, x0 + width, y0 + height), outline=(120, 120, 120))
    decade = low
    while decade <= high:
        x, _ = point(decade, 0)
        canvas.line((x, y0, x, y0 + height), fill=(225, 225, 225))
        canvas.text((x, y0 + height + 4), f"{decade:g}", fill=(60, 60, 60), font=small, anchor="mt")
        decade *= 10
    for lag in range(0, int(MAX_LAG) + 1, 4):
        _, y = point(low, lag)
        canvas.line((x0, y, x0 + width, y), fill=(225, 225, 225))
        canvas.text((x0 - 6, y), f"{lag} s", fill=(60, 60, 60), font=small, anchor="rm")
    canvas.text(
        (x0 + width / 2, y0 + height + 20), "mean polls per task (log)", fill=(60, 60, 60), font=small, anchor="mt"
    )
    canvas.text((x0, origin[1] + 8), pair[0].scenario.model.name, fill=(0, 0, 0), font=_font(14))
    for result in pair:
        line, dot = COLOURS["faults" if result.scenario.conditions.latency else "clean"]
        canvas.line([point(f.polls_mean, f.lag_mean) for _, f in result.frontier], fill=line, width=2)
        x, y = point(result.adaptive.polls_mean, result.adaptive.lag_mean)
        canvas.ellipse((x - 5, y - 5, x + 5, y + 5), fill=dot, outline=(0, 0, 0))


def draw(results: Sequence[ScenarioResult], path: str) -> None:
    """Write the chart of ``results`` (both conditions of each model) as a PNG at ``path``."""
    by_model: dict[str, list[ScenarioResult]] = {}
    for result in results:
        by_model.setdefault(result.scenario.model.name, []).append(result)
    rows = math.ceil((len(by_model) + 1) / COLUMNS)
    image = Image.new("RGB", (PANEL[0] * COLUMNS, PANEL[1] * rows + 30), "white")
    canvas = ImageDraw.Draw(image)
    canvas.text(
        (12, 8),
        "Mean lag (s) against mean polls per task: fixed intervals 0.5-60 s (line), adaptive schedule (dot)",
        fill=(0, 0, 0),
        font=_font(15),
    )
    for index, pair in enumerate(by_model.values()):
        _panel(canvas, (PANEL[0] * (index % COLUMNS), 30 + PANEL[1] * (index // COLUMNS)), pair)
    # The legend takes the last panel's place.
    index = len(by_model)
    x, y = PANEL[0] * (index % COLUMNS) + 60, 30 + PANEL[1] * (index // COLUMNS) + 60
    font = _font(13)
    for row, (label, key) in enumerate((("clean network", "clean"), ("0.3 s latency, 2% 429/503", "faults"))):
        line, dot = COLOURS[key]
        top = y + row * 60
        canvas.line((x, top, x + 40, top), fill=line, width=2)
        canvas.text((x + 50, top), f"fixed intervals, {label}", fill=(0, 0, 0), font=font, anchor="lm")
        canvas.ellipse((x + 15, top + 25, x + 25, top + 35), fill=dot, outline=(0, 0, 0))
        canvas.text((x + 50, top + 30), f"adaptive, {label}", fill=(0, 0, 0), font=font, anchor="lm")
    image.save(path, optimize=True)
