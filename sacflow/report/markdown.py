"""The report's Markdown: final scores per task x method, then the same beside published numbers."""

from __future__ import annotations

import pandas as pd

from sacflow.report.aggregate import CONFIDENCE, Estimate, GroupResult

DASH = "—"


def number(x: float) -> str:
    """Returns to the unit, success rates and small values to two decimals."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def with_ci(e: Estimate) -> str:
    return f"{number(e.value)} [{number(e.low)}, {number(e.high)}]"


def steps(x: float) -> str:
    return f"{x / 1e6:.3g}M" if x >= 1e6 else f"{x / 1e3:.3g}k" if x >= 1e3 else f"{x:g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def final_scores_table(results: list[GroupResult]) -> str:
    ci = f"{CONFIDENCE:.0%} CI"
    rows = [[r.task, r.method, str(len(r.seeds)), steps(r.final.step), with_ci(r.final.iqm), with_ci(r.final.mean)]
            for r in results]
    return table(["task", "method", "seeds", "at step", f"IQM [{ci}]", f"mean [{ci}]"], rows)


def reference_table(results: list[GroupResult], references: pd.DataFrame) -> tuple[str, list[str]]:
    """The table and its numbered sources: every task we ran, our methods and the published ones."""
    ours = {(r.task, r.method): r for r in results}
    tasks = sorted({r.task for r in results})
    refs = references[references["task"].isin(tasks)]
    sources = list(dict.fromkeys(refs["source"]))
    rows = []
    for task in tasks:
        published = {row.method: row for row in refs[refs["task"] == task].itertuples()}
        for method in [m for t, m in ours if t == task] + [m for m in published if (task, m) not in ours]:
            mine, ref = ours.get((task, method)), published.get(method)
            rows.append([
                task,
                method if ref is None else f"{method} ({ref.label})",
                DASH if mine is None else with_ci(mine.final.mean),
                DASH if mine is None else steps(mine.final.step),
                DASH if ref is None else reference_value(ref),
                DASH if ref is None else steps(ref.step),
                DASH if ref is None else f"[{sources.index(ref.source) + 1}]",
            ])
    header = ["task", "method", f"ours: mean [{CONFIDENCE:.0%} CI]", "at step", "published", "at step", "source"]
    return table(header, rows), sources


def reference_value(ref) -> str:
    if pd.notna(ref.ci_low):
        return f"{number(ref.value)} [{number(ref.ci_low)}, {number(ref.ci_high)}]"
    if pd.notna(ref.std):
        return f"{number(ref.value)} ± {number(ref.std)} (std)"
    return number(ref.value)


def report_markdown(results: list[GroupResult], references: pd.DataFrame, *, read_from: list[str], png: str,
                    window: float, reps: int) -> str:
    ref_table, sources = reference_table(results, references)
    return "\n".join([
        "# sacflow report",
        "",
        (f"Runs read from {', '.join(f'`{p}`' for p in read_from)}; grouped by task (`env.id`) and method "
         "(`agent.tag`, plus `-critic.name` from scratch), one run per seed. A group is read up to the step its "
         "least advanced run has reached, so runs still in progress are read as they stand."),
        "",
        f"![learning curves]({png})",
        "",
        "## Final scores",
        "",
        (f"Score of a from-scratch run: its mean training episode return over the last {window:.0%} of the steps; "
         "of an offline-to-online run: its evaluation success rate at the group's last step. IQM (25% trimmed "
         f"mean) and mean over seeds, with {CONFIDENCE:.0%} percentile-bootstrap confidence intervals over seeds "
         f"(rliable, {reps} resamples)."),
        "",
        final_scores_table(results),
        "",
        "## Beside published numbers",
        "",
        "Published numbers come from other code and usually far longer runs: compare the steps too.",
        "",
        ref_table,
        "",
        *(f"{i}. {source}" for i, source in enumerate(sources, start=1)),
        *([] if sources else ["No published numbers for these tasks."]),
        "",
    ])
