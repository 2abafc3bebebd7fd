"""Number formatting for the page's tables."""


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def fmt_int(x):
    return f"{x:,.0f}" if x is not None else "–"


def fmt_us(x):
    if x is None:
        return "–"
    return f"{x:.1f}" if x < 100 else f"{x:,.0f}"
