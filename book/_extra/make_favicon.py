"""Draw book/_extra/favicon.ico, a raster copy of book/_static/favicon.svg (same shapes, 32 px).

Browsers ask for /favicon.ico at the site root; the root page (Jupyter Book's redirect) links no icon, so
without this file the request is a 404 and a console error. Run: .venv/bin/python book/_extra/make_favicon.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

SCALE = 8  # draw large, then downsample: smooth edges at 32 px


def main() -> Path:
    s = SCALE
    img = Image.new("RGBA", (32 * s, 32 * s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([0, 0, 32 * s - 1, 32 * s - 1], radius=6 * s, fill="#1f4e79")
    for i in range(0, 22, 5):  # dashed diagonal from (5, 27) to (27, 5): dashes of 3, gaps of 2
        a, b = 5 + i, 5 + min(i + 3, 22)
        d.line([(a * s, (32 - a) * s), (b * s, (32 - b) * s)], fill="#9ecae1", width=2 * s)
    # the cubic Bezier M5 8 C 10 20, 16 24, 27 25
    p0, p1, p2, p3 = (5, 8), (10, 20), (16, 24), (27, 25)
    pts = []
    for k in range(41):
        t = k / 40
        x = (1 - t) ** 3 * p0[0] + 3 * (1 - t) ** 2 * t * p1[0] + 3 * (1 - t) * t**2 * p2[0] + t**3 * p3[0]
        y = (1 - t) ** 3 * p0[1] + 3 * (1 - t) ** 2 * t * p1[1] + 3 * (1 - t) * t**2 * p2[1] + t**3 * p3[1]
        pts.append((x * s, y * s))
    d.line(pts, fill="#ffffff", width=3 * s, joint="curve")
    out = Path(__file__).with_name("favicon.ico")
    img.resize((32, 32), Image.LANCZOS).save(out, sizes=[(32, 32), (16, 16)])
    return out


if __name__ == "__main__":
    print(main())
