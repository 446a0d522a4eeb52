"""Evaluation reports (``report.md`` and a self-contained ``report.html``) and the qualitative figure.

``write_report`` turns sections (paragraphs, tables, figure files) into Markdown (figures linked by
relative path) and HTML (figures embedded as base64 PNG, no script: the file can be mailed on its own
and read without JavaScript).
``plot_pose_examples`` draws depth images with ground-truth and predicted skeletons, like the paper's
Fig. 6 (e.g. for the best, median and worst frames of ``eval.metrics.select_example_frames``).
"""
from __future__ import annotations

import base64
import html
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_write_text
from pipeline.icvl import background_mask
from pipeline.skeleton import FINGER_COLORS, Skeleton

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; margin-bottom: .2em; font-size: 1.7em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #eee; }
p.subtitle { color: #555; margin-top: .2em; }
p.note { color: #555; font-size: 0.88em; margin: .3em 0 0; max-width: 60em; }
table { border-collapse: collapse; margin: .3em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1.2em 0; }
figure.table figcaption { font-weight: 600; color: #222; margin: 0 0 .2em; }
div.kv { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
div.kv figure { margin: .8em 0; }
div.cols { display: flex; gap: 1em; align-items: flex-start; }
div.cols figure { flex: 1 1 0; min-width: 0; }
table.summary { width: 100%; table-layout: fixed; }
table.summary th:first-child { width: 27%; }
table.summary th:last-child { width: 16%; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.92em; margin-top: .3em; }
"""


# ----------------------------------------------------------------------------- tables

def _flatten(settings: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    """Nested settings -> (dotted key, value) pairs, in insertion order."""
    out = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_flatten(value, name + "."))
        else:
            out.append((name, value))
    return out


def settings_rows(settings: Mapping) -> list[dict]:
    """A (nested) settings mapping -> rows {'setting': dotted key, 'value': value} for a table."""
    return [{"setting": k, "value": v} for k, v in _flatten(settings)]


@dataclass(frozen=True)
class Strong:
    """A table cell shown in bold (e.g. the chosen cell of a search), formatted like its value."""

    value: object


def _format_value(value, spec: str | None = None) -> str:
    """A table cell: floats with 3 decimals (or ``spec``), None/NaN as '-', sequences comma-separated."""
    if isinstance(value, Strong):
        return _format_value(value.value, spec)
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return "-" if math.isnan(value) else format(float(value), spec or ".3f")
    if isinstance(value, (int, np.integer)) and spec:
        return format(int(value), spec)
    if isinstance(value, (list, tuple)):
        return ", ".join(_format_value(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_format_value(v)}" for k, v in value.items())
    return str(value)


def _is_number(value) -> bool:
    if isinstance(value, Strong):
        value = value.value
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _table_records(table) -> tuple[list[str], list[list[object]]]:
    """A pandas DataFrame or a list of dicts -> (column names, rows of raw values)."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # pandas.DataFrame
        columns = [str(c) for c in table.columns]
        rows = [list(r) for r in table.itertuples(index=False, name=None)]
        return columns, rows
    records = list(table)
    columns: list[str] = []
    for r in records:
        if not isinstance(r, Mapping):
            raise TypeError(f"table rows must be dicts, got {type(r).__name__}")
        columns.extend(k for k in r if k not in columns)
    return columns, [[r.get(c) for c in columns] for r in records]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _numeric_column(rows, i: int) -> bool:
    return bool(rows) and all(_is_number(r[i]) or r[i] is None for r in rows)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]],
                   formats: Mapping[str, str] | None = None) -> str:
    """A Markdown table; numeric columns right-aligned; ``formats``: column -> format spec."""
    formats = formats or {}
    head = "| " + " | ".join(_md_cell(c) for c in columns) + " |"
    rule = "|" + "|".join("---:" if _numeric_column(rows, i) else "---" for i in range(len(columns))) + "|"

    def cell(v, c):
        text = _md_cell(_format_value(v, formats.get(c)))
        return f"**{text}**" if isinstance(v, Strong) else text

    body = ["| " + " | ".join(cell(v, c) for v, c in zip(r, columns)) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def html_table(columns: Sequence[str], rows: Sequence[Sequence[object]],
               formats: Mapping[str, str] | None = None, table_id: str = "", css_class: str = "") -> str:
    """An HTML table; numeric cells get class "num"; ``formats``: column -> format spec."""
    formats = formats or {}
    head = "".join(f'<th scope="col">{html.escape(c)}</th>' for c in columns)
    body = []
    for r in rows:
        cells = []
        for v, c in zip(r, columns):
            text = html.escape(_format_value(v, formats.get(c)))
            text = f"<strong>{text}</strong>" if isinstance(v, Strong) else text
            cells.append(f'<td class="num">{text}</td>' if _is_number(v) else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    attrs = (f' id="{html.escape(table_id)}"' if table_id else "") + \
            (f' class="{html.escape(css_class)}"' if css_class else "")
    return (f"<table{attrs}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody>\n</table>")


# ----------------------------------------------------------------------------- report

@dataclass(frozen=True)
class Table:
    """A table of a report: ``data`` is a pandas DataFrame or a list of dicts (one per row).

    ``formats``: column -> format spec for its numbers (default: 3 decimals for floats);
    ``id``: the HTML id (for tests and links); ``note``: a line under the table;
    ``compact``: a small key-value table laid out beside its neighbours in HTML.
    """

    caption: str
    data: object
    formats: Mapping[str, str] = field(default_factory=dict)
    id: str = ""
    note: str = ""
    compact: bool = False
    css_class: str = ""


@dataclass(frozen=True)
class Section:
    """A section of a report: a heading, paragraphs (plain text), tables, then figures
    (caption, PNG path) pairs; ``figure_columns`` = 2 sets the figures side by side in HTML."""

    heading: str
    paragraphs: Sequence[str] = ()
    tables: Sequence[Table] = ()
    figures: Sequence[tuple[str, Path]] = ()
    id: str = ""
    figure_columns: int = 1


def _png_bytes(path: Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise SdnetError(f"{path}: figure not found")
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise SdnetError(f"{path}: figure is not a PNG file")
    return data


def _paragraphs(notes: str) -> list[str]:
    return [p.strip() for p in notes.strip().split("\n\n") if p.strip()]


def _markdown_section(section: Section, out_dir: Path) -> list[str]:
    md = [f"## {section.heading}", ""]
    for p in section.paragraphs:
        md += [p, ""]
    for t in section.tables:
        columns, rows = _table_records(t.data)
        md += [f"**{t.caption}**", "", markdown_table(columns, rows, t.formats), ""]
        if t.note:
            md += [f"*{t.note}*", ""]
    for caption, path in section.figures:
        rel = Path(os.path.relpath(Path(path).resolve(), out_dir.resolve())).as_posix()
        md += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    return md


def _html_section(section: Section, images: Mapping[Path, bytes]) -> list[str]:
    e = html.escape
    sid = f' id="{e(section.id)}"' if section.id else ""
    body = [f"<section{sid}>", f"<h2>{e(section.heading)}</h2>"]
    body += [f"<p>{e(p)}</p>" for p in section.paragraphs]
    compact_open = False
    for t in section.tables:
        columns, rows = _table_records(t.data)
        if t.compact and not compact_open:
            body.append('<div class="kv">')
            compact_open = True
        elif not t.compact and compact_open:
            body.append("</div>")
            compact_open = False
        note = f'<p class="note">{e(t.note)}</p>' if t.note else ""
        body.append(f"<figure class=\"table\"><figcaption>{e(t.caption)}</figcaption>\n"
                    + html_table(columns, rows, t.formats, t.id, t.css_class) + note + "</figure>")
    if compact_open:
        body.append("</div>")
    if section.figures and section.figure_columns > 1:
        body.append('<div class="cols">')
    for caption, path in section.figures:
        b64 = base64.b64encode(images[Path(path)]).decode("ascii")
        body.append(f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{b64}">'
                    f"<figcaption>{e(caption)}</figcaption></figure>")
    if section.figures and section.figure_columns > 1:
        body.append("</div>")
    body.append("</section>")
    return body


def write_report(out_dir: Path, title: str, sections: Sequence[Section], subtitle: str = "") -> dict[str, Path]:
    """Write ``out_dir/report.md`` and ``out_dir/report.html``; returns {'md': path, 'html': path}.

    The sections appear in the given order (put the results first). Markdown links the figures
    relative to ``out_dir``; HTML embeds them as base64 PNG, with no script and no external
    resource, so the file is self-contained and reads the same without JavaScript. Both files are
    written atomically; a missing or non-PNG figure is an SdnetError (nothing written).
    """
    out_dir = Path(out_dir)
    images = {Path(p): _png_bytes(p) for s in sections for _, p in s.figures}
    md = [f"# {title}", ""] + ([f"*{subtitle}*", ""] if subtitle else [])
    for s in sections:
        md += _markdown_section(s, out_dir)

    e = html.escape
    body = [f"<h1>{e(title)}</h1>"] + ([f'<p class="subtitle">{e(subtitle)}</p>'] if subtitle else [])
    for s in sections:
        body += _html_section(s, images)
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")

    paths = {"md": out_dir / "report.md", "html": out_dir / "report.html"}
    atomic_write_text(paths["md"], "\n".join(md))
    atomic_write_text(paths["html"], page)
    return paths


# ----------------------------------------------------------------------------- qualitative figure

def _display_depth(image: np.ndarray, background_value: float | None) -> np.ma.MaskedArray:
    """A depth image/crop as a masked float array: background and invalid pixels masked.

    Integer images are raw ICVL depth in mm (0 and 32001 are background); float crops are masked
    where non-finite or equal to ``background_value`` (e.g. 1.0, the far face of a normalized cube).
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a (H, W) depth image, got shape {image.shape}")
    mask = ~np.isfinite(image.astype(np.float64))
    if np.issubdtype(image.dtype, np.integer):
        mask |= background_mask(image)
    if background_value is not None:
        mask |= image == background_value
    return np.ma.masked_array(image.astype(np.float64), mask=mask)


def _draw_skeleton(ax, uv: np.ndarray, skeleton: Skeleton, style: dict) -> None:
    """Draw each part chain of ``uv`` (J, 2) pixel coordinates in its finger colour, and the bones to
    joints in no part (NYU's wrist points) in grey (``OTHER_COLOUR``)."""
    for name, chain in zip(skeleton.part_names, skeleton.part_chains):
        pts = uv[list(chain)]  # (len(chain), 2)
        ax.plot(pts[:, 0], pts[:, 1], color=FINGER_COLORS.get(name, OTHER_COLOUR), **style)
    in_parts = {j for chain in skeleton.part_chains for j in chain}
    for parent, child in skeleton.bones:
        if child not in in_parts:
            ax.plot(uv[[parent, child], 0], uv[[parent, child], 1], color=OTHER_COLOUR, **style)


OTHER_COLOUR = "#9e9e9e"  # joints in no part (the wrist points of NYU)


GT_STYLE = dict(linestyle="-", linewidth=4.0, alpha=0.45, marker="o", markersize=5, solid_capstyle="round")
PRED_STYLE = dict(linestyle="--", linewidth=1.6, alpha=1.0, marker="x", markersize=5, markeredgewidth=1.6)


def plot_pose_examples(axes, images: Sequence[np.ndarray], gt_uv, pred_uv, titles: Sequence[str],
                       skeleton: Skeleton, background_value: float | None = None,
                       legend: bool = True) -> None:
    """Draw depth images with ground-truth and predicted skeletons, one per ``ax`` (paper Fig. 6).

    ``images``: K depth images or crops (H, W); raw integer depth in mm or normalized floats.
    ``gt_uv``, ``pred_uv``: (K, J, 2) (or (K, J, 3), the third column ignored) joint positions in
    pixels of each image (u right, v down, origin at the top-left pixel centre).
    Ground truth: thick translucent solid lines with dots; prediction: thin dashed lines with crosses;
    both coloured per finger. The legend goes to the right of the last axes.
    """
    axes = list(np.ravel(axes))
    gt_uv = np.asarray(gt_uv, dtype=np.float64)[..., :2]  # (K, J, 2)
    pred_uv = np.asarray(pred_uv, dtype=np.float64)[..., :2]  # (K, J, 2)
    k = len(images)
    if not (len(axes) == k == len(titles) == len(gt_uv) == len(pred_uv)):
        raise ValueError(f"need as many axes ({len(axes)}), titles ({len(titles)}), gt ({len(gt_uv)}) "
                         f"and predictions ({len(pred_uv)}) as images ({k})")
    if gt_uv.shape[1:] != (skeleton.num_joints, 2) or pred_uv.shape != gt_uv.shape:
        raise ValueError(f"joints must be (K, {skeleton.num_joints}, 2); got {gt_uv.shape} and {pred_uv.shape}")
    for ax, image, gt, pred, title in zip(axes, images, gt_uv, pred_uv, titles):
        depth = _display_depth(image, background_value)
        valid = depth.compressed()
        lo, hi = (np.percentile(valid, [1, 99]) if valid.size else (0.0, 1.0))
        cmap = _gray_with_black_background()
        ax.imshow(depth, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        _draw_skeleton(ax, gt, skeleton, GT_STYLE)
        _draw_skeleton(ax, pred, skeleton, PRED_STYLE)
        ax.set_xlim(-0.5, depth.shape[1] - 0.5)  # keep the image frame; joints outside are clipped
        ax.set_ylim(depth.shape[0] - 0.5, -0.5)
        ax.set_title(title, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
    if legend:
        handles = [Line2D([], [], color="0.35", **GT_STYLE, label="ground truth"),
                   Line2D([], [], color="0.1", **PRED_STYLE, label="prediction")]
        handles += [Line2D([], [], color=FINGER_COLORS.get(f, OTHER_COLOUR), linewidth=3, label=f)
                    for f in skeleton.part_names]
        if any(j not in {i for c in skeleton.part_chains for i in c} for j in range(skeleton.num_joints)):
            handles.append(Line2D([], [], color=OTHER_COLOUR, linewidth=3, label="in no part"))
        axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                        fontsize="small", frameon=False)


def _gray_with_black_background():
    """Grey colormap, near = light, far = dark, with masked (background) pixels drawn black."""
    # Greys from light (near) to dark (far), short of white and black so finger colours stay visible.
    return ListedColormap(colormaps["gray_r"](np.linspace(0.2, 0.7, 256))).with_extremes(bad="black")


def pose_examples_figure(images: Sequence[np.ndarray], gt_uv, pred_uv, titles: Sequence[str],
                         skeleton: Skeleton, background_value: float | None = None):
    """A one-row ``matplotlib.figure.Figure`` of ``plot_pose_examples`` (save with eval.plots.save_figure)."""
    k = len(images)
    fig = Figure(figsize=(3.2 * k + 1.6, 3.6))
    axes = fig.subplots(1, k, squeeze=False)[0]
    plot_pose_examples(axes, images, gt_uv, pred_uv, titles, skeleton, background_value)
    return fig
