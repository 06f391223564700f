"""A fallback plot without matplotlib: log-log lines on a grid, a legend of colour swatches and
labels in a 5x7 bitmap font, written as a PNG with zlib alone. Plain but readable.
"""

import struct
import zlib


FONT = {
    " ": "00000000000000000000000000000000000", "0": "01110100011001110101110011000101110",
    "1": "00100011000010000100001000010001110", "2": "01110100010000100010001000100011111",
    "3": "11111000100010000010000011000101110", "4": "00010001100101010010111110001000010",
    "5": "11111100001111000001000011000101110", "6": "00110010001000011110100011000101110",
    "7": "11111000010001000100010000100001000", "8": "01110100011000101110100011000101110",
    "9": "01110100011000101111000010001001100", ".": "00000000000000000000000000110001100",
    ",": "00000000000000000000001100010001000", "(": "00010001000100001000010000010000010",
    ")": "01000001000001000010000100010001000", "-": "00000000000000011111000000000000000",
    ":": "00000011000110000000011000110000000", "/": "00000000010001000100010001000000000",
}
for ch, rows in zip(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    [
        "01110100011000111111100011000110001", "11110100011000111110100011000111110", "01110100011000010000100001000101110",
        "11100100101000110001100011001011100", "11111100001000011110100001000011111", "11111100001000011110100001000010000",
        "01110100011000010111100011000101111", "10001100011000111111100011000110001", "01110001000010000100001000010001110",
        "00111000100001000010000101001001100", "10001100101010011000101001001010001", "10000100001000010000100001000011111",
        "10001110111010110101100011000110001", "10001100011100110101100111000110001", "01110100011000110001100011000101110",
        "11110100011000111110100001000010000", "01110100011000110001101011001001101", "11110100011000111110101001001010001",
        "01111100001000001110000010000111110", "11111001000010000100001000010000100", "10001100011000110001100011000101110",
        "10001100011000110001100010101000100", "10001100011000110101101011010101010", "10001100010101000100010101000110001",
        "10001100010101000100001000010000100", "11111000010001000100010001000011111",
    ],
):
    FONT[ch] = rows


def tiny_png(series, path, w=900, h=520):
    import math

    px = [[(255, 255, 255)] * w for _ in range(h)]

    def put(x, y, c):
        if 0 <= x < w and 0 <= y < h:
            px[y][x] = c

    def line(x0, y0, x1, y1, c, thick=2):
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for i in range(steps + 1):
            x = x0 + (x1 - x0) * i / steps
            y = y0 + (y1 - y0) * i / steps
            for dx in range(thick):
                for dy in range(thick):
                    put(int(x) + dx, int(y) + dy, c)

    def text(x, y, s, c=(0, 0, 0)):
        for ch in s.upper():
            g = FONT.get(ch, FONT[" "])
            for i, bit in enumerate(g):
                if bit == "1":
                    put(x + i % 5, y + i // 5, c)
            x += 6

    def hexc(s):
        return tuple(int(s[i : i + 2], 16) for i in (1, 3, 5))

    pts = [p for _, _, _, ps in series for p in ps]
    if not pts:
        pts = [(1, 1), (10, 10)]
    xs = [math.log10(x) for x, _ in pts]
    ys = [math.log10(max(y, 1e-3)) for _, y in pts]
    x0, x1 = math.floor(min(xs) * 2) / 2, math.ceil(max(xs) * 2) / 2 + 0.01
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys)) + 0.01
    L, R, T, B = 80, w - 20, 30, h - 150

    def sx(v):
        return L + (math.log10(v) - x0) / (x1 - x0) * (R - L)

    def sy(v):
        return B - (math.log10(max(v, 1e-3)) - y0) / (y1 - y0) * (B - T)

    for e in range(int(y0), int(math.ceil(y1)) + 1):
        y = sy(10**e)
        if T <= y <= B:
            line(L, y, R, y, (220, 220, 220), 1)
            text(10, int(y) - 3, f"{10 ** e:g} MS")
    for v in (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        x = sx(v)
        if L <= x <= R:
            line(x, T, x, B, (220, 220, 220), 1)
            text(int(x) - 12, B + 8, f"{v:,}")
    line(L, T, L, B, (0, 0, 0), 1)
    line(L, B, R, B, (0, 0, 0), 1)
    text(L, 10, "SCAN CPU TIME PER SCAN (MS, LOG) VS PROCESSES PER SCAN (LOG)")
    for k, (label, color, _, ps) in enumerate(series):
        c = hexc(color)
        for (ax, ay), (bx, by) in zip(ps, ps[1:]):
            line(sx(ax), sy(ay), sx(bx), sy(by), c)
        for x, y in ps:
            for dx in range(-3, 4):
                for dy in range(-3, 4):
                    put(int(sx(x)) + dx, int(sy(y)) + dy, c)
        ly = B + 30 + k * 20
        for dx in range(20):
            for dy in range(6):
                put(L + dx, ly + dy, c)
        text(L + 30, ly, label)

    raw = b"".join(b"\x00" + bytes(v for p in row for v in p) for row in px)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))
