"""Number formats and the Markdown table every part of the report uses.
"""




def fmt_ms(ns):
    if ns is None:
        return "–"
    ms = ns / 1e6
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def fmt_ns(ns):
    if ns is None:
        return "–"
    if ns >= 10000:
        return f"{ns / 1000:,.1f} µs"
    return f"{ns:,.0f} ns"


def fmt_x(r):
    if r is None:
        return "–"
    return f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def fmt_int(v):
    return "–" if v is None else f"{v:,.0f}"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)
