"""The final metrics as a person reads them: scalars rounded, then the live categories
sorted by prior with what each holds, dead ones counted. metrics.json keeps every
number at full precision; this is only the printed form."""

from __future__ import annotations

import numpy as np

from cgpgan.prior import LIVE_THRESHOLD

# per-category lists, shown in the category table instead of as raw lists
PER_CATEGORY = ("prior", "category_purity", "category_mode", "real_category_share", "contingency")
# sections shown with every scalar (the merged groups of `method.merge_into`), not only accuracy
IN_FULL = ("merged",)


def format_metrics(metrics: dict) -> str:
    lines = _scalar_lines(metrics)
    if "prior" in metrics:
        lines += [""] + _category_lines(metrics)
    return "\n".join(lines)


def _scalar_lines(metrics: dict) -> list[str]:
    flat: dict = {}
    for name, value in metrics.items():
        if name in PER_CATEGORY:
            continue
        if name in IN_FULL:
            flat.update({f"{name}.{inner}": scores for inner, scores in value.items()})
        elif isinstance(value, dict):  # baselines and further labels: their accuracy
            for inner, scores in value.items():
                if isinstance(scores, dict) and "accuracy" in scores:
                    flat[f"{name}.{inner}.accuracy"] = scores["accuracy"]
                elif inner == "accuracy":
                    flat[f"{name}.accuracy"] = scores
        elif not isinstance(value, list):
            flat[name] = value
    width = max((len(name) for name in flat), default=0)
    return [f"{name:<{width}}  {_number(value)}" for name, value in flat.items()]


def _category_lines(metrics: dict) -> list[str]:
    """One row per live category of the first label, by prior; then the dead ones."""
    prior = np.asarray(metrics["prior"], dtype=float)
    prior = prior[0] if prior.ndim == 2 else prior
    columns: dict[str, list] = {"prior": list(prior)}
    if "category_purity" in metrics:  # 2-D: generated samples' majority mode and purity
        columns["mode"] = metrics["category_mode"]
        columns["purity"] = metrics["category_purity"]
    if "contingency" in metrics:  # images: real items assigned, their majority class
        table = np.asarray(metrics["contingency"])
        sizes = table.sum(axis=1)
        columns["real items"] = list(sizes)
        columns["class"] = list(table.argmax(axis=1))
        columns["purity"] = list(table.max(axis=1) / np.maximum(sizes, 1))
    elif "real_category_share" in metrics:
        columns["real share"] = metrics["real_category_share"]
    order = np.argsort(-prior, kind="stable")
    live = [k for k in order if prior[k] >= LIVE_THRESHOLD]
    dead = [k for k in order if prior[k] < LIVE_THRESHOLD]
    header = ["category", *columns]
    rows = [[str(k), *(_number(columns[name][k]) for name in columns)] for k in live]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [f"live categories (prior >= {LIVE_THRESHOLD:.0%}), by prior:"]
    lines += [
        "  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths))
        for row in [header, *rows]
    ]
    if dead:
        lines.append(
            f"dead categories (prior < {LIVE_THRESHOLD:.0%}): {len(dead)} "
            f"({', '.join(str(k) for k in sorted(dead))})"
        )
    return lines


def _number(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if value != 0 and abs(value) < 0.01:  # small scores (e.g. a KL) keep 3 digits
            return f"{float(value):.3g}"
        return f"{float(value):.4f}" if abs(value) < 1e4 else f"{float(value):.1f}"
    return str(value)
