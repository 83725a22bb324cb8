"""``report.html``: one self-contained page per run (plots, code, videos embedded), and a comparison page.

Nothing is fetched when the page is opened: plots are SVG data URIs, the code is highlighted by pygments
into inline CSS classes defined in the page, videos are base64 MP4 (above ``VIDEO_EMBED_LIMIT`` a file is
linked relative to the run directory instead), and the only script sorts the candidate table.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from eureka.evolve.seedstats import SeedStats
from eureka.report import plots
from eureka.report.rundata import CandidateData, RunData, _text, ago, fmt, load_run
from eureka.store.safe import read_bytes

VIDEO_EMBED_LIMIT = 8 * 1024 * 1024  # bytes per video; larger ones are linked, not embedded
TOP_COMPONENTS = 3  # candidates whose component curves are plotted

CSS = """
:root { --fg:#1d232a; --muted:#5f6b76; --line:#dde3e8; --bg:#f7f9fa; --ok:#2b8a3e; --bad:#c92a2a; --warn:#b8860b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; background: #fff; }
header { padding: 18px 28px 10px; border-bottom: 1px solid var(--line); background: var(--bg); }
header h1 { margin: 0 0 4px; font-size: 22px; }
main { padding: 8px 28px 40px; max-width: 1280px; }
section { margin: 22px 0; }
h2 { font-size: 17px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.muted { color: var(--muted); }
.badge { display:inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
         color:#fff; background: var(--muted); vertical-align: middle; }
.badge.completed, .badge.ok { background: var(--ok); }
.badge.running, .badge.training, .badge.pending, .badge.starting { background: #1c7ed6; }
.badge.stopped, .badge.all_failed, .badge.rejected, .badge.failed, .badge.interrupted, .badge.terminated { background: var(--bad); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 150px; max-width: 235px; background:#fff; }
.card .v { font-size: 22px; font-weight: 650; }
.card.head { border: 2px solid #d62828; max-width: 340px; }
.card .l { font-size: 12px; color: var(--muted); }
.note { border-left: 4px solid var(--warn); background: #fff8e6; padding: 6px 10px; margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg); position: sticky; top: 0; white-space: nowrap; }
td.num { white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:after { content: " \\2195"; color: #aab; font-size: 11px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #eefbea; font-weight: 600; }
td.msg { max-width: 460px; color: var(--muted); font-size: 12px; white-space: pre-wrap; word-break: break-word; }
img.plot { max-width: 100%; height: auto; display: block; margin: 6px 0; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      overflow-x: auto; font-size: 12.5px; line-height: 1.4; }
.highlight pre { margin: 0; }\n#best-code pre, pre.wrap { white-space: pre-wrap; word-break: break-word; }
.videos { display: flex; flex-wrap: wrap; gap: 16px; }
.videos figure { margin: 0; }
video { max-width: 360px; max-height: 300px; background: #000; border-radius: 4px; }
details > summary { cursor: pointer; color: #1c7ed6; margin: 6px 0; }
.scroll { max-width: 100%; overflow-x: auto; }
.flag { display:inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; font-weight: 600; color:#fff;
        background: var(--warn); margin-right: 4px; }
td.flags { color: var(--warn); font-size: 12px; }
.verdict { text-transform: uppercase; }
.verdict.win { color: var(--ok); } .verdict.loss { color: var(--bad); } .verdict.tie { color: var(--warn); }
header .muted, p.muted { overflow-wrap: anywhere; }
.grid2 { display: grid; grid-template-columns: minmax(0, 1.5fr) minmax(0, 1fr); gap: 20px; align-items: start; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      function key(row) {
        var cell = row.cells[col];
        var v = cell.getAttribute('data-v');
        if (v === null) { v = cell.textContent.trim(); }
        var n = parseFloat(v);
        return (v !== '' && !isNaN(n) && isFinite(v)) ? [0, n] : [v === '' || v === '-' ? 2 : 1, v];
      }
      rows.sort(function (a, b) {
        var ka = key(a), kb = key(b);
        if (ka[0] !== kb[0]) { return ka[0] - kb[0]; }
        var c = ka[1] < kb[1] ? -1 : (ka[1] > kb[1] ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def e(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def pm(st: SeedStats, digits: int = 3) -> str:
    if st.mean is None:
        return "-"
    return f"{fmt(st.mean, digits)} ± {fmt(st.std or 0.0, 2 if abs(st.std or 0) < 10 else 3)}"


def _highlight(code: str, lang: str = "python") -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name

        return highlight(code, get_lexer_by_name(lang), HtmlFormatter(cssclass="highlight"))
    except Exception:  # noqa: BLE001 - pygments missing: plain text is still readable
        return f'<div class="highlight"><pre>{e(code)}</pre></div>'


def _pygments_css() -> str:
    try:
        from pygments.formatters import HtmlFormatter

        return HtmlFormatter(style="friendly", cssclass="highlight").get_style_defs(".highlight")
    except Exception:  # noqa: BLE001
        return ""


def _img(uri: str | None, alt: str) -> str:
    return f'<img class="plot" alt="{e(alt)}" src="{uri}">' if uri else ""


def _video(path: Path, run_root: Path, caption: str) -> str:
    try:
        size = path.lstat().st_size
        data = read_bytes(path, VIDEO_EMBED_LIMIT) if size <= VIDEO_EMBED_LIMIT else None
    except (OSError, ValueError):  # a link, fifo or directory planted in a candidate's directory
        return ""
    if data is not None:
        src = "data:video/mp4;base64," + base64.b64encode(data).decode("ascii")
    else:
        src = e(os.path.relpath(path, run_root))
    return (f'<figure><video controls loop muted preload="auto" src="{src}"></video>'
            f"<figcaption class=\"muted\">{e(caption)}</figcaption></figure>")


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{e(title)}</title>'
            f"<style>{CSS}\n{_pygments_css()}</style></head><body>{body}"
            f"<script>{SORT_JS}</script></body></html>\n")


def _card(label: str, value: str, sub: str = "", cls: str = "") -> str:
    return (f'<div class="card {cls}"><div class="l">{e(label)}</div><div class="v">{value}</div>'
            f'<div class="l">{sub}</div></div>')


def _headline(run: RunData) -> str:
    fe = run.final
    seeds = run.final_seeds
    n_ok = len([c for c in run.candidates if c.fitness is not None])
    if fe.mean is not None:
        head = _card("final re-training", e(pm(fe)),
                     e(f"mean ± std over {len(fe.values)} final seed(s): {', '.join(map(str, fe.seeds))}"))
    elif run.finished:
        head = _card("final re-training", "-", "not run (see status)")
    else:
        head = _card("final re-training", "pending", e(f"seeds {', '.join(seeds)}"))
    best = run.best
    search = _card("search fitness of the selected reward", e(fmt(run.best_search_fitness)),
                   e(f"{best.id if best else '-'} (of {n_ok} trained candidates): {run.search_basis}"))
    env = _card("env reward baseline", e(pm(run.env_baseline)), e(_seed_list(run.env_baseline)))
    sparse = _card("sparse fitness baseline", e(pm(run.sparse_baseline)), e(_seed_list(run.sparse_baseline)))
    hns = _card("human-normalized score", e(fmt(run.human_normalized_score)),
                "(final − sparse) / |env − sparse|")
    out = _chosen_section(run) + f'<div class="cards">{head}{search}{env}{sparse}{hns}</div>'
    if run.hns_note:
        out += f'<div class="note">Human-normalized score: {e(run.hns_note)}.</div>'
    ss = run.search_seed
    all_ss = [str(s) for s in run.search_seeds]
    if len(all_ss) > 1:
        best_seeds = best.seed_fitness if best is not None else {}
        conf = run.confirmed
        seed_text = (f"Seeds: the search ran with seeds {', '.join(all_ss)} (racing: the selected reward on "
                     + (", ".join(f"{k}: {fmt(v)}" for k, v in best_seeds.items()) or "-")
                     + ("; held out to confirm it: " + ", ".join(f"{k}: {fmt(v)}" for k, v in conf.per_seed.items())
                        if conf.per_seed else "") + ")")
    else:
        seed_text = f"Seeds: the search ran with seed {ss if ss is not None else '?'}"
    seed_text += f"; the final re-training and the baselines use seeds {', '.join(seeds) or '-'}."
    out += f'<p class="muted">{e(seed_text)}</p>'
    if ss is not None and str(ss) in seeds:
        out += (f'<div class="note">Seed {ss} is both the search seed and a final re-training seed: that '
                f"re-training repeats the selected search run, so it is not an independent sample.</div>")
    if run.message:
        out += f'<div class="note">{e(run.message)}</div>'
    return out


def _seed_list(st: SeedStats) -> str:
    return f"seeds {', '.join(map(str, st.seeds))}" if st.seeds else ""


SIGNAL_WORDS = {"early_termination": "early termination", "reward_up_fitness_down": "reward up, fitness down",
                "dominant_component": "one component dominates"}


def _chosen_section(run: RunData) -> str:
    """The chosen reward's one estimate over all its trainings, every training plotted, the verdict against
    the env reward, and the reward-hacking flags of the chosen reward."""
    est, vs = run.chosen, run.verdict
    if not est.trainings:
        return ""
    lo, hi = est.ci
    ci = f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else ""
    roles = est.by_role()
    role_text = ", ".join(f"{n} {r.replace('_', '-')}" for r, n in roles.items() if n)
    cards = _card("chosen reward: all trainings (the result)", e(f"{fmt(est.mean)}{ci}"),
                  e(f"mean of {est.n_trainings} trainings ({role_text}); 95% bootstrap interval of the mean"), "head")
    if vs.verdict is not None:
        cards += _card("verdict against the env reward", f'<span class="verdict {e(vs.verdict)}">{e(vs.verdict)}</span>',
                       e(f"P(chosen > env) = {fmt(vs.p)} [{fmt(vs.ci[0])}, {fmt(vs.ci[1])}] over "
                         f"{vs.n_chosen} x {vs.n_env} final trainings; {vs.why}"))
    else:
        cards += _card("verdict against the env reward", "-", e(vs.why))
    out = [f'<div class="cards">{cards}</div>',
           f'<p id="outcome"><b>{e(est.words[:1].upper() + est.words[1:])}.</b>'
           + (' <span class="flag">bimodal</span> The trainings split into two groups: the mean and its interval '
              "describe neither; read the dots." if est.bimodal else "") + "</p>",
           _img(plots.trainings_plot(run, est), "every training of the chosen reward")]
    best = run.best
    flags = run.signals_for(best) if best is not None else []
    recorded = [k for k in (best.signal_kinds if best is not None else []) if k not in {f.kind for f in flags}]
    if flags or recorded:
        out.append('<div id="hacking">' + "".join(
            f'<div class="note"><span class="flag">{e(SIGNAL_WORDS.get(f.kind, f.kind))}</span> {e(f.text)}</div>'
            for f in flags) + "".join(f'<div class="note"><span class="flag">{e(SIGNAL_WORDS.get(k, k))}</span> '
                                      "raised by its reflection during the search</div>" for k in recorded) + "</div>")
    final_len, env_len = run.episode_length("final", "best"), run.episode_length("baselines", "env")
    if final_len is not None and env_len is not None and final_len < 0.5 * env_len:
        out.append(f'<div class="note"><span class="flag">short episodes</span> The chosen reward\'s policies end '
                   f"their evaluation episodes after {fmt(final_len)} steps on average, the env reward's after "
                   f"{fmt(env_len)}.</div>")
    return f'<section id="chosen"><h2>What the result rests on: every training of the chosen reward</h2>{"".join(out)}</section>'


def _flags(run: RunData, c: CandidateData) -> str:
    return ", ".join(SIGNAL_WORDS.get(k, k) for k in run.flags_for(c))


def _candidate_table(run: RunData) -> str:
    best = run.best_id
    population = set(run.population)
    cols = [("candidate", ""), ("iter", "num"), ("status", ""), ("error class", ""), ("hacking flags", ""),
            ("fitness", "num"),
            ("score (racing)", "num"), ("per search seed", ""), ("corr. with env reward", "num"),
            ("parent", ""), ("island", "num"), ("preference", "num"), ("env steps", "num"),
            ("train s", "num"), ("message", "")]
    halving = any(c.stopped_at is not None for c in run.candidates)
    if halving:
        cols.insert(-1, ("stopped at", "num"))
    head = "".join(f'<th class="{c}">{e(n)}</th>' for n, c in cols)
    rows = []
    for c in run.candidates:
        mark = " ★" if c.id in population else ""
        cls = ' class="best"' if c.id == best else ""
        num = lambda v: f'<td class="num" data-v="{"" if v is None else e(v)}">{e(fmt(v))}</td>'  # noqa: E731
        rows.append(
            f"<tr{cls}><td>{e(c.id)}{mark}</td>{num(None if c.iteration is None else c.iteration + 1)}"
            f'<td><span class="badge {e(c.status)}">{e(c.status)}</span></td><td>{e(c.error_class or "")}</td>'
            f'<td class="flags">{e(_flags(run, c))}</td>'
            f"{num(c.fitness)}{num(c.score)}<td>{e(_seeds(c))}</td>{num(c.env_corr)}"
            f"<td>{e(c.parent or '')}{e(_tuned(c))}</td>{num(c.island)}{num(c.preference)}{num(c.steps or None)}"
            f'{num(round(c.train_wall_s, 1) if c.train_wall_s is not None else None)}'
            f'{num(c.stopped_at) if halving else ""}<td class="msg">{e((c.message or "")[:400])}</td></tr>')
    final = ", ".join(str(x) for x in run.final_seeds) or "-"
    legend = ('<p class="muted">Click a column to sort. ★ = in the final population; the highlighted row is the '
              "selected reward. Fitness is the search's own: the mean over the candidate's search seeds; the "
              "score ranks (racing: mean - k·std/√seeds; only candidates with enough seeds can be the best). "
              f"Final re-training seeds (never used by the search): {e(final)}.</p>")
    return (f'{legend}<div class="scroll"><table class="sortable" id="candidates"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _ran(run: RunData) -> str:
    """Per iteration, how many of the designer's answers ran (trained without an error)."""
    parts = []
    for it in sorted({c.iteration for c in run.candidates}):
        mine = [c for c in run.candidates if c.iteration == it and "_tuned" not in c.id]
        ok = sum(1 for c in mine if c.status == "ok")
        if mine:
            parts.append(f"iteration {it}: {ok}/{len(mine)} ({100 * ok / len(mine):.0f}%)")
    return f'<p class="muted">Answers that ran: {e("; ".join(parts))}.</p>' if parts else ""


def _seeds(c: CandidateData) -> str:
    """``seed: fitness`` of each search seed it was trained on."""
    return ", ".join(f"{k}: {fmt(v)}" for k, v in c.seed_fitness.items())


def _tuned(c: CandidateData) -> str:
    t = c.tuning
    if not t:
        return ""
    return f" (tuned{'' if t.gain is None else f', gain {fmt(t.gain)}'})"


def _final_table(run: RunData) -> str:
    seeds = list(dict.fromkeys(run.final.seeds + run.env_baseline.seeds + run.sparse_baseline.seeds))
    if not seeds:
        return '<p class="muted">No final re-training yet.</p>'
    head = "".join(f'<th class="num">seed {e(s)}</th>' for s in seeds)
    rows = ""
    for label, st in (("best reward, re-trained", run.final), ("env reward", run.env_baseline),
                      ("sparse fitness", run.sparse_baseline)):
        if not st.per_seed and st.mean is None:
            continue
        cells = "".join(f'<td class="num">{e(fmt(st.per_seed.get(s)))}</td>' for s in seeds)
        rows += (f'<tr><td>{e(label)}</td>{cells}<td class="num">{e(fmt(st.mean))}</td>'
                 f'<td class="num">{e(fmt(st.std, 2))}</td></tr>')
    return (f'<table><thead><tr><th></th>{head}<th class="num">mean</th><th class="num">std</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _prompt_feedback(cand: CandidateData) -> str:
    """The last user message of the candidate's prompt (task, parent's code, reflection, notes)."""
    if not cand.prompt:
        return ""
    users = [m for m in cand.prompt if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return ""
    text = str(users[-1].get("content", ""))
    return (f"<details><summary>The prompt that produced {e(cand.id)} (what the designer was told)</summary>"
            f"<pre>{e(text)}</pre></details>")


def _best_section(run: RunData) -> str:
    best = run.best
    if best is None:
        return '<section id="best"><h2>Best reward</h2><p class="muted">No candidate has a fitness yet.</p></section>'
    parent = next((c for c in run.candidates if c.id == best.parent), None)
    lineage = []
    cur: CandidateData | None
    cur, seen = best, set()
    while cur is not None and cur.id not in seen:
        seen.add(cur.id)
        lineage.append(cur.id)
        cur = next((c for c in run.candidates if c.id == cur.parent), None)
    basis = (f"mean over its search seeds {', '.join(map(str, best.seed_fitness))}" if len(best.seed_fitness) > 1
             else "one search seed")
    fit = (f" (search fitness {fmt(best.fitness)}: {basis}, which selected it, so optimistic; every training "
           "of it is under Result)" if best.fitness is not None else "")
    parts = [f'<section id="best"><h2>Best reward: {e(best.id)}</h2>',
             f'<p class="muted">{e(fit.strip(" ()"))}; lineage: {" ← ".join(e(x) for x in lineage)}</p>',
             '<div class="grid2"><div>']
    if best.code:
        parts.append(f'<div id="best-code">{_highlight(best.code)}</div>')
    parts.append("</div><div>")
    if best.video is not None:
        parts.append(_video(best.video, run.path, f"{best.id}: rollout.mp4"))
    elif best.video_error:
        parts.append(f'<div class="note">No rollout video: {e(best.video_error)}</div>')
    notes = run.notes_for(best)
    parts.append("<h3>Human notes that led to it</h3>")
    parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>" if notes
                 else '<p class="muted">none</p>')
    parts.append("</div></div>")
    if parent is not None and parent.reflection_text:
        parts.append(f"<h3>Reflection on its parent {e(parent.id)} (fed to the designer)</h3>"
                     f'<pre class="wrap">{e(parent.reflection_text)}</pre>')
    if best.reflection_text:
        parts.append(f'<h3>Reflection on {e(best.id)} after training</h3><pre class="wrap">'
                     f"{e(best.reflection_text)}</pre>")
    parts.append(_prompt_feedback(best))
    raw = best.dir / "response.txt" if best.dir is not None else None
    text = _text(raw) if raw is not None else None
    if text is not None:
        parts.append(f"<details><summary>The designer's raw answer (response.txt)</summary>"
                     f'<pre class="wrap">{e(text[:20000])}</pre></details>')
    parts.append("</section>")
    return "".join(parts)


def _usage(run: RunData) -> str:
    usage = run.llm_usage
    rows = [("designer", f"{run.llm} ({run.model})" if run.model else run.llm)]
    if run.summary is not None:  # every field of the usage record, as summary.json holds it
        rows += [(f"llm {k.replace('_', ' ')}", fmt(v) if not isinstance(v, float) else f"{v:.4g}")
                 for k, v in usage.to_dict().items()]
    else:  # no summary yet: the tokens of the designed events, the cost unknown
        rows += [("llm prompt tokens", fmt(usage.prompt_tokens)), ("llm completion tokens", fmt(usage.completion_tokens)),
                 ("llm cost", "not recorded" if run.llm != "offline" else "0 (offline designer)")]
    rows += [("wall time", f"{run.wall_time_s:.0f} s" if run.wall_time_s is not None else "-"),
             ("search env steps", f"{run.env_steps:,}" if run.env_steps else "-"),
             ("all env steps (with final + baselines)", f"{run.total_env_steps:,}" if run.total_env_steps else "-"),
             ("candidates", str(len(run.candidates))),
             ("iterations", str(len(run.iterations)))]
    return "<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows) + "</table>"


def _preferences(run: RunData) -> str:
    scores = run.preference_scores.get("scores") if run.preference_scores else None
    if not scores and not run.preferences:
        return ""
    notes = run.preference_scores.get("notes") if run.preference_scores else None
    notes = notes if isinstance(notes, dict) else {}
    ids = list(dict.fromkeys(sorted((scores or {}), key=lambda k: -((scores or {}).get(k) or 0)) + list(notes)))
    rows = "".join(f'<tr><td>{e(k)}</td><td class="num">{e(fmt((scores or {}).get(k)))}</td>'
                   f'<td>{e("; ".join(str(n) for n in notes.get(k, [])))}</td></tr>' for k in ids)
    return (f'<section id="preferences"><h2>Preferences</h2><p class="muted">{len(run.preferences)} pairwise '
            f"answers in preferences.jsonl; Bradley-Terry scores and the notes aimed at each candidate (they go "
            f"into its children's prompts):</p><table><thead><tr><th>candidate</th>"
            f'<th class="num">score</th><th>notes</th></tr></thead><tbody>{rows}</tbody></table>'
            f"{_sessions(run)}{_choices(run)}{_note_children(run)}</section>")


def _sessions(run: RunData) -> str:
    """What each session's choices did (the ``choices`` events): top choice, population, parents."""
    rows = []
    for ev in run.events:
        if not isinstance(ev, dict) or ev.get("event") != "choices" or not isinstance(ev.get("iteration"), int):
            continue
        pop = cast(list, ev.get("population")) if isinstance(ev.get("population"), list) else []
        parents = cast(list, ev.get("parents")) if isinstance(ev.get("parents"), list) else []
        top = ev.get("favourite")
        fate = ("" if not top else " (kept, first)" if ev.get("favourite_kept") and ev.get("selection") != "fitness"
                else " (did not steer: selection=fitness)" if ev.get("selection") == "fitness" else " (not kept)")
        after = (f"final re-training: {ev.get('final')}" if ev.get("last")
                 else ", ".join(f"{p.get('sample')} ← {p.get('parent')}" for p in parents if isinstance(p, dict)))
        rows.append(f"<tr><td class=\"num\">{ev['iteration'] + 1}</td><td>{e(top or 'none')}{e(fate)}</td>"
                    f"<td>{e(', '.join(str(p.get('id')) for p in pop if isinstance(p, dict)))}</td>"
                    f"<td>{e(', '.join(str(x) for x in ev.get('dropped') or []))}</td><td>{e(after)}</td></tr>")
    if not rows:
        return ""
    return ('<h3>What each session\'s choices did</h3><table id="sessions"><thead><tr><th class="num">session</th>'
            "<th>top choice</th><th>population after it (best first)</th><th>dropped</th>"
            "<th>next parents (sample ← parent)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _choices(run: RunData) -> str:
    """Every answer of every session: when, which pair, which side, the note; superseded answers marked."""
    records = [r for r in run.preferences if isinstance(r, dict) and r.get("pair_id")]
    if not records:
        return ""
    last = {r["pair_id"]: i for i, r in enumerate(records)}
    rows = []
    for i, r in enumerate(records):
        choice = str(r.get("choice", ""))
        side = {"a": f"A: {r.get('a')}", "b": f"B: {r.get('b')}"}.get(choice, choice)
        when = (_dt.datetime.fromtimestamp(float(r["time"]), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                if isinstance(r.get("time"), (int, float)) else "")
        it = r.get("iteration")
        later = "" if last[r["pair_id"]] == i else ' <span class="muted">(replaced by a later answer)</span>'
        rows.append(f"<tr><td>{e(when)}</td><td class=\"num\">{e(it + 1 if isinstance(it, int) else '')}</td>"
                    f"<td>A: {e(r.get('a'))}<br>B: {e(r.get('b'))}</td><td>{e(side)}{later}</td>"
                    f"<td>{e(r.get('note') or '')}</td></tr>")
    return ('<h3>Every choice</h3><table id="choices"><thead><tr><th>time</th><th class="num">session (iteration)</th>'
            "<th>pair</th><th>preferred</th><th>note</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _note_children(run: RunData) -> str:
    """Each note, the candidate(s) it was aimed at, and the children those got afterwards with their fitness."""
    latest: dict[str, dict] = {}
    for r in run.preferences:
        if isinstance(r, dict) and r.get("pair_id"):
            latest[r["pair_id"]] = r
    rows = []
    for r in latest.values():
        note = str(r.get("note") or "").strip()
        if not note:
            continue
        targets = {"a": [r.get("a")], "b": [r.get("b")]}.get(str(r.get("choice")), [r.get("a"), r.get("b")])
        it = cast(int, r.get("iteration")) if isinstance(r.get("iteration"), int) else -1
        for target in targets:
            kids = [c for c in run.candidates if c.parent == target and c.iteration > it]
            text = ", ".join(f"{c.id} (iteration {c.iteration + 1}, fitness {fmt(c.fitness)})" for c in kids)
            rows.append(f"<tr><td>{e(note)}</td><td>{e(target)}</td>"
                        f"<td>{e(text) if kids else '<span class=muted>no child (not a parent afterwards)</span>'}"
                        f"</td></tr>")
    if not rows:
        return ""
    return ('<h3>Where each note went</h3><table id="note-children"><thead><tr><th>note</th><th>aimed at</th>'
            "<th>its children after the note, and how they scored</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def render_report(run: RunData) -> str:
    """The whole page for one run."""
    status = run.status
    live = "" if run.finished else f" · last activity {e(ago(run.last_activity))} (re-run eureka-report to refresh)"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"<header><h1>eureka: {e(run.task)} <span class=\"badge {e(status)}\">{e(status)}</span></h1>"
              f'<div class="muted">{e(run.fitness_metric)} · designer {e(run.llm)}'
              f'{" (" + e(run.model) + ")" if run.model else ""} · selection {e(run.selection or "fitness")}'
              f' · feedback {e(run.feedback or "fitness")} · {e(run.path)} · generated {now}{live}</div>'
              f"</header>")
    top = sorted([c for c in run.candidates if c.fitness is not None and c.metrics], key=lambda c: -cast(float, c.fitness))
    comp_uri = plots.components_plot(top[:TOP_COMPONENTS])
    videos = [c for c in run.candidates if c.video is not None]
    no_video = [c for c in run.candidates if c.video_error]
    body = [header, "<main>",
            f'<section id="headline"><h2>Result</h2>{_headline(run)}</section>',
            f'<section id="fitness"><h2>Fitness over the search</h2>'
            f'{_img(plots.fitness_plot(run), "fitness per iteration") or "<p class=muted>no fitness yet</p>"}'
            f"</section>",
            f'<section id="final"><h2>Final evaluation</h2><div class="grid2"><div>{_final_table(run)}</div>'
            f'<div>{_img(plots.final_plot(run), "final evaluation per seed")}</div></div></section>',
            _best_section(run),
            f'<section id="components"><h2>Reward components of the best candidates</h2>'
            f'{_img(comp_uri, "reward components") or "<p class=muted>no training metrics yet</p>"}</section>',
            f'<section id="table"><h2>All candidates</h2>{_ran(run)}{_candidate_table(run)}</section>']
    if videos:
        body.append('<section id="videos"><h2>Rollout videos</h2><div class="videos">'
                    + "".join(_video(cast(Path, c.video), run.path, f"{c.id} (fitness {fmt(c.fitness)})") for c in videos)
                    + "</div></section>")
    if no_video:
        body.append('<section id="no-videos"><p class="muted">Videos that failed: '
                    + "; ".join(f"{e(c.id)}: {e(c.video_error)}" for c in no_video) + "</p></section>")
    body.append(_preferences(run))
    body.append(f'<section id="usage"><h2>LLM usage, cost and time</h2>{_usage(run)}</section>')
    if run.config_text:
        body.append(f'<section id="config"><h2>Task and resolved config</h2><details><summary>config.yaml'
                    f"</summary>{_highlight(run.config_text, 'yaml')}</details></section>")
    body.append("</main>")
    return _page(f"eureka report: {run.task} ({run.name})", "".join(body))


def _comparison_table(runs: list[RunData], out_dir: Path) -> str:
    cols = [("run", ""), ("task", ""), ("designer", ""), ("search seed", "num"), ("status", ""),
            ("final (mean ± std)", "num"), ("final seeds", ""), ("chosen, all trainings", "num"),
            ("vs env reward", ""), ("search best (selection seeds)", "num"),
            ("env reward", "num"), ("sparse", "num"), ("human-norm.", "num"), ("env steps", "num"),
            ("wall s", "num"), ("tokens", "num")]
    head = "".join(f'<th class="{c}">{e(n)}</th>' for n, c in cols)
    rows = []
    for r in runs:
        rep = r.path / "report.html"
        name = (f'<a href="{e(os.path.relpath(rep, out_dir))}">{e(r.name)}</a>' if rep.exists() else e(r.name))
        tokens = r.llm_usage.prompt_tokens + r.llm_usage.completion_tokens
        note = f' title="{e(r.hns_note)}"' if r.hns_note else ""
        reused = (' <span title="a final seed equals the search seed: that re-training repeats the selected '
                  'search run">⚑</span>' if r.search_seed is not None and r.search_seed in r.final.seeds else "")
        rows.append(
            f"<tr><td>{name}</td><td>{e(r.task)}</td><td>{e(r.llm)}</td><td class=\"num\">{e(fmt(r.search_seed))}</td>"
            f'<td><span class="badge {e(r.status)}">{e(r.status)}</span></td>'
            f'<td class="num" data-v="{e(r.final.mean if r.final.mean is not None else "")}">{e(pm(r.final))}</td>'
            f"<td>{e(', '.join(map(str, r.final.seeds)))}{reused}</td>"
            f'<td class="num">{e(_estimate_text(r))}</td><td title="{e(r.verdict.why)}">{e(r.verdict.verdict or "-")}</td>'
            f"<td class=\"num\">{e(fmt(r.best_search_fitness))}</td>"
            f'<td class="num" data-v="{e(r.env_baseline.mean if r.env_baseline.mean is not None else "")}">'
            f"{e(pm(r.env_baseline))}</td>"
            f'<td class="num" data-v="{e(r.sparse_baseline.mean if r.sparse_baseline.mean is not None else "")}">'
            f"{e(pm(r.sparse_baseline))}</td>"
            f'<td class="num"{note}>{e(fmt(r.human_normalized_score))}{" ⚠" if r.hns_note else ""}</td>'
            f'<td class="num">{e(fmt(r.total_env_steps))}</td>'
            f'<td class="num">{e(fmt(round(r.wall_time_s) if r.wall_time_s is not None else None))}</td>'
            f'<td class="num">{e(fmt(tokens))}</td></tr>')
    groups: dict[tuple[str, str], list[RunData]] = {}
    for r in runs:
        groups.setdefault((r.task, r.llm), []).append(r)
    agg = ""
    if any(len(g) > 1 for g in groups.values()):
        arows = ""
        for (task, llm), g in groups.items():
            finals, envs, sparse = (SeedStats(dict(enumerate(getattr(r, a).mean for r in g)))
                                    for a in ("final", "env_baseline", "sparse_baseline"))
            arows += (f"<tr><td>{e(task)}</td><td>{e(llm)}</td><td class=\"num\">{len(g)}</td>"
                      f'<td class="num">{e(pm(finals))}</td><td class="num">{e(pm(envs))}</td>'
                      f'<td class="num">{e(pm(sparse))}</td></tr>')
        agg = ("<h3>Across runs (mean ± std of each run's mean)</h3><table><thead><tr><th>task</th><th>designer</th>"
               '<th class="num">runs</th><th class="num">final</th><th class="num">env reward</th>'
               f'<th class="num">sparse</th></tr></thead><tbody>{arows}</tbody></table>')
    return (f'<div class="scroll"><table class="sortable" id="runs"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{agg}<p class="muted">⚠ = the human-normalized score\'s denominator is small against the '
            f"baselines' spread; ⚑ = a final seed repeats the search seed (hover for details). The search best is the "
            f"mean over the seeds that selected it (optimistic); \"chosen, all trainings\" pools every training of the "
            f"chosen reward (95% bootstrap interval); \"vs env reward\": win / tie / loss (hover for why).</p>")


def _estimate_text(run: RunData) -> str:
    est = run.chosen
    lo, hi = est.ci
    return fmt(est.mean) + (f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else "")


def render_comparison(runs: list[RunData], out_dir: Path) -> str:
    """One page comparing several runs: overlaid fitness curves (one panel per task) and a headline table."""
    tasks = list(dict.fromkeys(r.task for r in runs))
    imgs = "".join(_img(plots.comparison_plot([r for r in runs if r.task == t]), f"fitness curves: {t}")
                   for t in tasks)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = (f"<header><h1>eureka: {len(runs)} runs compared</h1><div class=\"muted\">tasks {e(', '.join(tasks))}"
            f" · generated {now}</div></header><main>"
            f'<section id="table"><h2>Headline figures</h2>{_comparison_table(runs, out_dir)}</section>'
            f'<section id="curves"><h2>Fitness curves</h2>{imgs}</section></main>')
    return _page("eureka: runs compared", body)


def _atomic_write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_report(run_dir: str | Path, out: str | Path | None = None, tensorboard: bool = True,
                 status_hint: str | None = None) -> Path:
    """Write ``<run_dir>/report.html`` (or ``out``) and the post-hoc TensorBoard scalars; return the page's path.

    ``status_hint`` (``interrupted``, ``stopped``) names how the run ended when its summary still says running.
    """
    run = load_run(run_dir)
    run.status_hint = status_hint
    path = _atomic_write(Path(out) if out else run.path / "report.html", render_report(run))
    if tensorboard:
        from eureka.report.tb import write_scalars

        try:
            write_scalars(run)
        except Exception:  # noqa: BLE001 - TensorBoard is a bonus; the page is written already
            pass
    return path


def write_comparison(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Write one comparison page for ``run_dirs``; return its path."""
    out = Path(out)
    runs = [load_run(d) for d in run_dirs]
    return _atomic_write(out, render_comparison(runs, out.parent.resolve()))


__all__ = ["render_comparison", "render_report", "write_comparison", "write_report"]
