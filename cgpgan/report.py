"""`cgpgan report RUN_DIR|SWEEP_DIR`: one self-contained HTML page (pictures embedded,
nothing fetched) to browse a run or a sweep.

A run's page: its metrics, sample grid, prior, training curves and prior trajectory, and
the contingency table where labels exist. A sweep's page: the table of runs with the
selection criterion (the selected run marked), the live categories and prior entropy
per setting, a chart of categories against the grid's setting, and the selected run's
pictures. A small script in the page checks that every picture shows and records any
error in `body[data-check]` (the browser test reads it).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from cgpgan.errors import RunError
from cgpgan.storage import atomic_write_text

PAGE = "report.html"
RUN_PICTURES = [  # (file in plots/, caption)
    ("samples.png", "Samples (columns: categories, ordered by prior)"),
    ("samples_merged.png", "Samples of the merged groups (method.merge_into, cgpgan merge)"),
    ("prior.png", "Learnt prior"),
    ("curves.png", "Training curves"),
    ("prior_trajectory.png", "Prior during training"),
    ("contingency.png", "Real data: category against true class"),
]
STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; background: #fff; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }
th { background: #eee; } td:first-child, th:first-child { text-align: left; }
tr.selected { background: #e4f4e4; font-weight: bold; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
img { max-width: 640px; border: 1px solid #ddd; }
"""
CHECK = """
window.reportErrors = [];
window.addEventListener("error", (event) => {
  const target = event.target && event.target.tagName ? event.target.tagName : "script";
  window.reportErrors.push(target + ": " + (event.message || "failed to load"));
}, true);
window.addEventListener("load", () => {
  for (const image of document.images) {
    if (!(image.complete && image.naturalWidth > 0)) {
      window.reportErrors.push("picture not shown: " + image.alt);
    }
  }
  document.body.dataset.check = window.reportErrors.length
    ? "errors: " + window.reportErrors.join("; ")
    : "ok: " + document.images.length + " pictures";
});
"""


def write_report(directory: str | Path) -> Path:
    """Write DIRECTORY/report.html for a run or a sweep directory; returns its path."""
    from cgpgan.sweep import SWEEP_FILE, read_record

    directory = Path(directory)
    if (directory / SWEEP_FILE).is_file():
        body = _sweep_body(directory, read_record(directory))
        title = f"cgpgan sweep {directory.name}"
    elif (directory / "run.json").is_file():
        body = _run_body(directory)
        title = f"cgpgan run {directory.name}"
    else:
        raise RunError(f"{directory}: neither a run directory (run.json) nor a sweep (sweep.json)")
    page = directory / PAGE
    atomic_write_text(page, _page(title, body))
    return page


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<script>{CHECK}</script></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"{body}\n</body></html>\n"
    )


def _run_body(directory: Path) -> str:
    parts = []
    metrics_path = directory / "metrics.json"
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
        except json.JSONDecodeError:
            raise RunError(f"{metrics_path}: not valid JSON (run evaluate to rewrite it)") from None
        parts.append("<h2>Metrics</h2>" + _table(["metric", "value"], _scalar_rows(metrics)))
    else:
        parts.append("<p>No metrics yet (the run is unfinished, or evaluate it).</p>")
    parts.append(_pictures(directory / "plots"))
    return "\n".join(parts)


def _scalar_rows(metrics: dict, prefix: str = "") -> list[list[str]]:
    rows = []
    for name, value in metrics.items():
        if isinstance(value, dict):
            rows += _scalar_rows(value, f"{prefix}{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append([prefix + name, _number(value)])
    return rows


def _pictures(plots_dir: Path) -> str:
    figures = []
    for name, caption in RUN_PICTURES:
        path = plots_dir / name
        if path.is_file():
            figures.append(_figure(path.read_bytes(), caption))
    return "<h2>Pictures</h2>\n" + "\n".join(figures) if figures else ""


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(header: list[str], rows: list[list[str]], selected: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    lines = []
    for index, row in enumerate(rows):
        marked = " class='selected'" if index == selected else ""
        cells = "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row)
        lines.append(f"<tr{marked}>{cells}</tr>")
    return f"<table><tr>{head}</tr>\n" + "\n".join(lines) + "</table>"


def _number(value) -> str:
    if isinstance(value, int):
        return str(value)
    return "nan" if value != value else f"{value:.4g}"


def _sweep_body(directory: Path, record: dict) -> str:
    criterion = record.get("criterion", "")
    runs = record["runs"]
    score_names = sorted({name for entry in runs for name in entry.get("scores", {})})
    label_names = sorted({name for entry in runs for name in entry.get("metrics", {})})
    header = ["run", "settings", *score_names, *label_names, "status"]
    rows, selected = [], None
    for index, entry in enumerate(runs):
        if entry["directory"] == record.get("selected"):
            selected = index
        scores, labels = entry.get("scores", {}), entry.get("metrics", {})
        rows.append(
            [
                entry["directory"],
                " ".join(entry["config"]),
                *[_number(scores[name]) if name in scores else "" for name in score_names],
                *[_number(labels[name]) if name in labels else "" for name in label_names],
                entry.get("error", "trained"),
            ]
        )
    parts = [
        f"<p>Selected run: <b>{html.escape(str(record.get('selected')))}</b>, the medoid "
        "of the setting whose runs have the highest mean criterion "
        f"<b>{html.escape(criterion)}</b> (higher is better): the run that agrees best with "
        "the setting's other seeds, a tie going to the higher criterion. Label metrics, "
        "where the data have labels, are shown but choose nothing.</p>",
        "<h2>Runs</h2>" + _table(header, rows, selected),
    ]
    settings = record.get("settings", [])
    if settings:
        parts.append("<h2>Settings</h2>" + _settings_table(settings, criterion))
        parts.append(_figure(_categories_chart(settings), "Live categories per setting"))
    if "consensus" in record:
        parts.append(
            "<h2>Consensus clustering</h2>"
            + _table(["metric", "value"], _scalar_rows(record["consensus"]))
        )
    if selected is not None:
        parts.append(f"<h2>Selected run: {html.escape(runs[selected]['directory'])}</h2>")
        parts.append(_pictures(directory / runs[selected]["directory"] / "plots"))
    return "\n".join(parts)


def _settings_table(settings: list[dict], criterion: str) -> str:
    names = ["live_categories", "prior_entropy", criterion]
    names += ["accuracy"] if all("accuracy" in row for row in settings) else []
    rows, selected = [], None
    for index, row in enumerate(settings):
        if row.get("selected"):
            selected = index
        cells = [f"{row[n]['mean']:.3f} ± {row[n]['std']:.3f}" for n in names]
        rows.append([row["setting"], str(row["runs"]), *cells, _number(row["seed_agreement"])])
    return _table(["setting", "runs", *names, "seed_agreement"], rows, selected)


def _categories_chart(settings: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    positions = np.arange(len(settings))
    means = [row["live_categories"]["mean"] for row in settings]
    spreads = [row["live_categories"]["std"] for row in settings]
    axis.errorbar(positions, means, yerr=spreads, marker="o", capsize=4)
    axis.set_xticks(positions, [row["setting"] for row in settings], rotation=20, ha="right")
    axis.set_ylabel("live categories (mean ± std)")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
