"""A minimal pure-Python line chart written as PNG (matplotlib is not a dependency of the project).

Log-scale x, linear y from 0, one coloured line with markers per series, a legend, and text in a
built-in 5x7 bitmap font (upper case). Enough for `events/s against lake size, per runtime`.
"""

import itertools
import math
import struct
import zlib
from collections.abc import Sequence

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)
PALETTE: dict[str, Color] = {
    "ray": (31, 119, 180),
    "inline": (255, 127, 14),
    "duckdb": (44, 160, 44),
    "floor": (127, 127, 127),
}
EXTRA: tuple[Color, ...] = ((214, 39, 40), (148, 103, 189), (140, 86, 75))

# 5x7 glyphs, one int per row (bit 4 = leftmost pixel).
FONT: dict[str, tuple[int, ...]] = {
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    "A": (0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    " ": (0, 0, 0, 0, 0, 0, 0),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08),
    "-": (0, 0, 0, 0x1F, 0, 0, 0),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
    "_": (0, 0, 0, 0, 0, 0, 0x1F),
    "<": (0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02),
    ">": (0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08),
}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(WHITE * (width * height))

    def set(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * (y * self.width + x)
            self.pixels[i : i + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        for y in range(max(0, y0), min(self.height, y1 + 1)):
            for x in range(max(0, x0), min(self.width, x1 + 1)):
                self.set(x, y, color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 1) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        half = width // 2
        while True:
            self.rect(x0 - half, y0 - half, x0 - half + width - 1, y0 - half + width - 1, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
        for ch in text.upper():
            glyph = FONT.get(ch, FONT[" "])
            for row, bits in enumerate(glyph):
                for col in range(5):
                    if bits & (0x10 >> col):
                        self.rect(
                            x + col * scale,
                            y + row * scale,
                            x + col * scale + scale - 1,
                            y + row * scale + scale - 1,
                            color,
                        )
            x += 6 * scale

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[3 * y * self.width : 3 * (y + 1) * self.width])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def text_width(text: str, scale: int = 2) -> int:
    return 6 * scale * len(text)


def nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(1, ticks)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for mult in (1, 2, 2.5, 5, 10):
        if mult * power >= raw:
            return mult * power
    return 10 * power


def human(value: float) -> str:
    for unit, div in (("M", 1e6), ("K", 1e3)):
        if abs(value) >= div:
            text = f"{value / div:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{value:g}"


def panel(
    canvas: Canvas,
    box: tuple[int, int, int, int],
    series: dict[str, Sequence[tuple[float, float]]],
    title: str,
    y_label: str,
    x_label: str,
    log_y: bool = False,
) -> None:
    """One chart in `box` (left, top, right, bottom): log-x; y linear from 0, or log."""
    left, top, right, bottom = box
    canvas.text(left, top, title, scale=2)
    plot_l, plot_t, plot_r, plot_b = left + 90, top + 40, right - 10, bottom - 84
    points = [p for pts in series.values() for p in pts]
    if not points:
        canvas.text(plot_l, plot_t + 40, "NO DATA")
        return
    xs = sorted({p[0] for p in points})
    lx0, lx1 = math.log10(xs[0]), math.log10(xs[-1])
    if lx1 - lx0 < 1e-9:
        lx0, lx1 = lx0 - 0.5, lx1 + 0.5
    pad = 0.06 * (lx1 - lx0)
    lx0, lx1 = lx0 - pad, lx1 + pad
    positive = [p[1] for p in points if p[1] > 0] or [1.0]
    if log_y:
        ly0 = math.floor(math.log10(min(positive)))
        ly1 = math.ceil(math.log10(max(positive)))
        ly1 = max(ly1, ly0 + 1)
        ticks = [m * 10.0**e for e in range(ly0, ly1 + 1) for m in (1, 2, 5)]
        ticks = [t for t in ticks if t <= 10.0**ly1]

        def py(y: float) -> int:
            frac = (math.log10(max(y, 10.0**ly0)) - ly0) / (ly1 - ly0)
            return round(plot_b - frac * (plot_b - plot_t))

    else:
        y_max = max(positive) * 1.1
        step = nice_step(y_max)
        y_max = step * math.ceil(y_max / step)
        ticks = [i * step for i in range(round(y_max / step) + 1)]

        def py(y: float) -> int:
            return round(plot_b - y / y_max * (plot_b - plot_t))

    def px(x: float) -> int:
        return round(plot_l + (math.log10(x) - lx0) / (lx1 - lx0) * (plot_r - plot_l))

    for tick in ticks:
        y = py(tick)
        canvas.line(plot_l, y, plot_r, y, GRID)
        label = human(tick)
        canvas.text(plot_l - 8 - text_width(label), y - 7, label)
    for x in xs:
        canvas.line(px(x), plot_t, px(x), plot_b, GRID)
        label = human(x)
        canvas.text(px(x) - text_width(label) // 2, plot_b + 8, label)
    canvas.line(plot_l, plot_b, plot_r, plot_b, BLACK)
    canvas.line(plot_l, plot_t, plot_l, plot_b, BLACK)
    canvas.text((plot_l + plot_r - text_width(x_label)) // 2, plot_b + 32, x_label)
    canvas.text(left, top + 20, y_label, scale=1)

    colors = {
        name: PALETTE.get(name, EXTRA[index % len(EXTRA)]) for index, name in enumerate(series)
    }
    for name, pts in series.items():
        ordered = sorted(pts)
        for (x0, y0), (x1, y1) in itertools.pairwise(ordered):
            canvas.line(px(x0), py(y0), px(x1), py(y1), colors[name], width=3)
        for x, y in ordered:
            canvas.rect(px(x) - 4, py(y) - 4, px(x) + 4, py(y) + 4, colors[name])
    # legend: one row under the x axis label
    lx, ly = plot_l, plot_b + 58
    for name in series:
        canvas.rect(lx, ly + 3, lx + 20, ly + 9, colors[name])
        canvas.text(lx + 28, ly, name)
        lx += 28 + text_width(name) + 24


def write_chart(
    path: str,
    panels: Sequence[tuple[str, str, dict[str, Sequence[tuple[float, float]]], bool]],
    x_label: str = "RAW EVENTS IN THE LAKE",
) -> None:
    """Panels side by side: (title, y label, {series: [(x, y), ...]}, log y)."""
    width_each, height = 640, 440
    canvas = Canvas(width_each * len(panels), height)
    for i, (title, y_label, series, log_y) in enumerate(panels):
        box = (i * width_each + 10, 10, (i + 1) * width_each - 10, height - 10)
        panel(canvas, box, series, title, y_label, x_label, log_y)
    with open(path, "wb") as handle:
        handle.write(canvas.png())
