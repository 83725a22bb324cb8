"""Read a run directory (finished, stopped or still running) into one record for the report.

``summary.json`` is read by ``eureka.evolve.summary.load_summary`` into the run's own typed record
(``Summary``, the one the loop writes), its candidates into ``Candidate`` s. Every file is optional: a run
that is still in its first iteration has no ``summary.json`` yet and a stopped run has no ``final/``; what
the summary does not hold yet is read here from the event log and the candidates' and trainings'
directories. The HTML page, the terminal view and TensorBoard only see ``RunData``.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

from eureka.analyze import Reflection
from eureka.analyze.estimate import Estimate, Training, Verdict, estimate, verdict
from eureka.analyze.hacking import Signal, from_metrics
from eureka.errors import Failure
from eureka.evolve.candidate import Candidate, Status, place
from eureka.evolve.seedstats import SeedStats
from eureka.evolve.summary import Figures, Summary, load_summary
from eureka.llm.base import Usage
from eureka.store.safe import read_text

FINISHED = ("completed", "stopped", "all_failed", "interrupted", "terminated", "failed")


def _json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(read_text(path))  # a candidate's directory is hostile: no links, no fifos, bounded
    except (OSError, ValueError):
        return default


def _text(path: Path) -> str | None:
    try:
        return read_text(path)
    except (OSError, ValueError):
        return None


def _jsonl(path: Path) -> list[dict]:
    try:
        lines = read_text(path).splitlines()
    except (OSError, ValueError):
        return []
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn last line of a killed process
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _num(v: Any) -> float | None:
    """A finite float, or None (JSON null, NaN, strings)."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _get(d: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return default if d is None else d


def stats_from_dirs(dirs: list[Path], prefix: str) -> SeedStats:
    """``<prefix>_seed<s>/fitness.json`` files (what a running or stopped run already has)."""
    per: dict[int, float | None] = {}
    for d in sorted(dirs):
        m = re.fullmatch(rf"{re.escape(prefix)}_seed(-?\d+)", d.name)
        if m:
            per[int(m.group(1))] = _num(_get(_json(d / "fitness.json", {}), "fitness"))
    return SeedStats(per)


@dataclass(eq=False)
class CandidateData(Candidate):
    """A candidate as the report shows it: the run's own ``Candidate`` (read from its row in ``summary.json``
    by ``Candidate.from_row``, or from the event log and its directory while the summary has no row for it),
    its code and reflection text from its directory, and what else the directory holds."""

    dir: Path | None = None
    metrics: list[dict] = field(default_factory=list)  # metrics.jsonl: the training's snapshots
    video: Path | None = None
    video_error: str | None = None
    prompt: list[dict] | None = None  # prompt.json: the messages the designer got
    train_wall_s: float | None = None  # fitness.json: the training's wall time

    @classmethod
    def of(cls, cand: Candidate) -> CandidateData:
        """``cand`` with room for its files."""
        return cls(**{f.name: getattr(cand, f.name) for f in fields(Candidate)})

    @property
    def reflection_text(self) -> str:
        """The analyzer's reflection on its training (reflection.txt), empty when there is none."""
        return self.reflection.text if self.reflection is not None else ""

    @property
    def component_names(self) -> list[str]:
        """The reward components its training logged, in order of appearance."""
        names: list[str] = []
        for row in self.metrics:
            for k in (row.get("components") or {}):
                if k not in names:
                    names.append(k)
        return names


@dataclass
class RunData:
    """Everything the report shows about one run."""

    path: Path
    summary: Summary | None  # summary.json as the typed record (None: the run has written none yet)
    config_text: str | None
    config: dict
    events: list[dict]
    candidates: list[CandidateData]
    final: SeedStats
    env_baseline: SeedStats
    sparse_baseline: SeedStats
    preference_scores: dict
    preferences: list[dict]
    status_hint: str | None = None  # how the process ended, when the summary was not updated (Ctrl-C)

    @property
    def figures(self) -> Figures | None:
        """What the summary concludes (as it recorded it); None without a summary."""
        return self.summary.figures() if self.summary is not None else None

    # -- headline figures -----------------------------------------------------------------
    @property
    def task(self) -> str:
        return str((self.summary.task if self.summary else "") or _get(self.config, "task", "name") or "?")

    @property
    def llm(self) -> str:
        return str((self.summary.llm if self.summary else "") or _get(self.config, "llm", "provider") or "?")

    @property
    def model(self) -> str:
        return str((self.summary.model if self.summary else "") or _get(self.config, "llm", "model") or "")

    @property
    def fitness_metric(self) -> str:
        """What the task's fitness measures, in words."""
        return self.summary.fitness_metric if self.summary else ""

    @property
    def selection(self) -> str:
        """How parents were selected (fitness | preference | ...)."""
        return self.summary.selection if self.summary else "fitness"

    @property
    def feedback(self) -> str:
        """Where the feedback came from (fitness | a person | a scripted teacher)."""
        return self.summary.feedback if self.summary else "fitness"

    @property
    def message(self) -> str:
        """Why the run stopped or ended as it did (empty when it says nothing)."""
        return self.summary.message if self.summary else ""

    @property
    def population(self) -> list[str]:
        """The final population's candidates (best first)."""
        return self.summary.population if self.summary else []

    @property
    def status(self) -> str:
        """completed / stopped / all_failed / running / starting (from the summary or the event log)."""
        status = self.summary.status if self.summary else ""
        if not status:
            status = "running" if self.events else "starting"
        kinds = {e.get("event") for e in self.events}
        if status == "running" and "run_finished" in kinds:
            status = "completed"
        if status == "running" and kinds & {"stopped", "interrupted"}:
            status = "stopped"
        if status in ("running", "starting") and self.status_hint:
            status = self.status_hint
        return str(status)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def last_activity(self) -> float | None:
        """Unix time of the last event (or file change) in the run."""
        times = [t for t in (_num(e.get("time")) for e in self.events[-5:]) if t is not None]
        if times:
            return max(times)
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    @property
    def best_id(self) -> str | None:
        if self.summary is not None and self.summary.best is not None:
            return self.summary.best.id
        ok = [c for c in self.candidates if c.fitness is not None]
        return max(ok, key=lambda c: cast(float, c.fitness)).id if ok else None

    @property
    def best(self) -> CandidateData | None:
        bid = self.best_id
        return next((c for c in self.candidates if c.id == bid), None)

    @property
    def best_search_fitness(self) -> float | None:
        fig = self.figures
        v = fig.best_fitness if fig is not None else None
        if v is None and self.best is not None:
            v = self.best.fitness
        return v

    @property
    def best_selection_fitness(self) -> float | None:
        """The selected reward's mean over the search seeds that chose it (optimistic: chosen as the best)."""
        best = self.summary.best if self.summary is not None else None
        v = best.fitness if best is not None else None
        return v if v is not None else self.best_search_fitness

    @property
    def confirmed(self) -> SeedStats:
        """The selected reward re-trained on held-out search seeds at the end of the search (empty: none)."""
        conf = self.summary.confirmed if self.summary is not None else None
        return conf if conf is not None else SeedStats()

    @property
    def search_basis(self) -> str:
        """What the search's fitness of the selected reward rests on, in words (optimistic unless held out)."""
        best, conf = self.best, self.confirmed
        seeds = [str(s) for s in best.seed_fitness] if best else []
        chose = f"mean over search seeds {', '.join(seeds)}" if len(seeds) > 1 else "one seed"
        if conf.mean is None:
            return f"{chose}, the best of several candidates: optimistic"
        return (f"mean over held-out search seeds {', '.join(map(str, conf.seeds))}, which played no part in "
                f"choosing it; its {chose} that chose it: {fmt(self.best_selection_fitness)} (optimistic)")

    @property
    def search_seed(self) -> int | None:
        if self.summary is not None and self.summary.search_seed is not None:
            return self.summary.search_seed
        try:
            return int(_get(self.config, "seed"))
        except (TypeError, ValueError):
            return None

    @property
    def search_seeds(self) -> list[int]:
        """Every seed the search trained candidates with (racing adds seeds to the first)."""
        fig = self.figures
        return fig.search_seeds if fig is not None else []

    @property
    def final_seeds(self) -> list[str]:
        """The final re-training's seeds, as text (trained or not yet)."""
        if self.summary is not None and self.summary.final_seeds:
            return [str(s) for s in self.summary.final_seeds]
        if self.final.per_seed:
            return [str(s) for s in self.final.seeds]
        cfg = _get(self.config, "eval", "seeds")
        return [str(s) for s in cfg] if isinstance(cfg, list) else []

    @property
    def human_normalized_score(self) -> float | None:
        fig = self.figures
        v = fig.human_normalized_score if fig is not None else None
        if v is None:
            f, e, s = self.final.mean, self.env_baseline.mean, self.sparse_baseline.mean
            if f is not None and e is not None and s is not None and abs(e - s) > 1e-12:
                v = (f - s) / abs(e - s)
        return v

    @property
    def hns_note(self) -> str | None:
        """The summary's caution about a small denominator, or ours when the baselines' gap is within noise."""
        fig = self.figures
        if fig is not None and fig.note:
            return fig.note
        e, s = self.env_baseline, self.sparse_baseline
        if e.mean is None or s.mean is None:
            return None
        gap = abs(e.mean - s.mean)
        spread = max(e.std or 0.0, s.std or 0.0)
        if gap < 1e-12:
            return "the two baselines are equal, so the score is undefined"
        if spread > 0 and gap < 2 * spread:
            return (f"the denominator (baseline gap {gap:.3g}) is small against the baselines' spread over seeds "
                    f"(std up to {spread:.3g}): do not over-read the score")
        return None

    @property
    def llm_usage(self) -> Usage:
        """The designer's usage as the summary recorded it, else the tokens of the ``designed`` events."""
        if self.summary is not None:
            return self.summary.llm_usage
        designed = [e for e in self.events if e.get("event") == "designed"]
        return Usage(prompt_tokens=sum(int(e.get("prompt_tokens") or 0) for e in designed),
                     completion_tokens=sum(int(e.get("completion_tokens") or 0) for e in designed))

    @property
    def wall_time_s(self) -> float | None:
        if self.summary is not None and self.summary.wall_time_s:
            return self.summary.wall_time_s
        t = [x for x in (_num(e.get("time")) for e in self.events) if x is not None]
        return max(t) - min(t) if t else None

    @property
    def env_steps(self) -> int | None:
        fig = self.figures
        if fig is not None:
            return fig.search_env_steps
        steps = [c.steps for c in self.candidates if c.steps]
        return sum(steps) if steps else None

    @property
    def total_env_steps(self) -> int | None:
        """Search steps plus those of the final re-trainings and baselines."""
        total = self.env_steps or 0
        for sub in ("final", "baselines"):
            for d in sorted((self.path / sub).glob("*")):
                total += int(_get(_json(d / "fitness.json", {}), "steps", default=0) or 0)
        return total or None

    @property
    def iterations(self) -> list[int]:
        return sorted({c.iteration for c in self.candidates})

    def best_so_far(self) -> list[tuple[int, float | None]]:
        """(iteration, best search fitness up to and including it)."""
        best: float | None = None
        out = []
        for it in self.iterations:
            for c in self.candidates:
                if c.iteration == it and c.fitness is not None:
                    best = c.fitness if best is None else max(best, c.fitness)
            out.append((it, best))
        return out

    def notes_for(self, cand: CandidateData) -> list[str]:
        """Human notes that went into this candidate's prompt: the run's notes plus those aimed at its parent."""
        notes = [str(n) for n in (_get(self.config, "notes", default=[]) or [])]
        aimed = _get(self.preference_scores, "notes", default={}) or {}
        if cand.parent and isinstance(aimed, dict):
            notes += [str(n) for n in aimed.get(cand.parent, []) if str(n) not in notes]
        return notes

    @property
    def name(self) -> str:
        return self.path.name

    # -- what the result rests on (eureka.analyze.estimate, eureka.analyze.hacking) ----------------------
    def chosen_trainings(self) -> list[Training]:
        """Every training of the chosen reward with its role: the summary's list, else what the run holds."""
        fig = self.figures
        if fig is not None and fig.chosen is not None:
            return list(fig.chosen.trainings)
        best, out = self.best, []
        if best is not None:
            out += [Training(int(s), "selection", v) for s, v in best.seed_fitness.items()]
            conf_of = self.summary.confirm_of if self.summary is not None else None
            if (conf_of or best.id) == best.id:
                out += [Training(int(s), "held_out", v) for s, v in self.confirmed.per_seed.items()]
        out += [Training(int(s), "final", v) for s, v in self.final.per_seed.items()]
        return out

    @property
    def chosen(self) -> Estimate:
        """One estimate of the chosen reward from all its trainings (as the summary recorded it, else made here)."""
        fig = self.figures
        if fig is not None and fig.chosen is not None and fig.chosen.mean is not None:
            return fig.chosen
        return estimate(self.chosen_trainings())

    @property
    def verdict(self) -> Verdict:
        """P(chosen > env reward) over the final seeds, its interval and the word (win / tie / loss)."""
        if self.final.values and self.env_baseline.values:
            return verdict(self.final.values, self.env_baseline.values)
        why = ("the final evaluation has not run" if not self.final.values
               else "no env reward baseline was trained (eval.baselines=false)")
        return Verdict(why=why)

    def episode_length(self, sub: str, prefix: str) -> float | None:
        """Mean evaluation episode length of the ``<sub>/<prefix>_seed*`` trainings (None when unknown)."""
        lens: list[float] = []
        for d in sorted((self.path / sub).glob(f"{prefix}_seed*")):
            vals = _get(_json(d / "fitness.json", {}), "eval_lengths", default=[])
            lens += [v for v in (_num(x) for x in vals) if v is not None] if isinstance(vals, list) else []
        return statistics.fmean(lens) if lens else None

    def signals_for(self, cand: CandidateData) -> list[Signal]:
        """The candidate's reward-hacking signals from its training snapshots, its episode lengths read
        against the env reward's policies (final evaluation) where those were trained."""
        env_len = self.episode_length("baselines", "env")
        return from_metrics(cand.metrics, env_len, "the env reward's policies (final evaluation)")

    def flags_for(self, cand: CandidateData) -> list[str]:
        """The signal kinds its reflection raised and those read again here against the env reward's policies."""
        return list(dict.fromkeys(cand.signal_kinds + [s.kind for s in self.signals_for(cand)]))


def _config(text: str | None) -> dict:
    if not text:
        return {}
    try:
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
        return cfg if isinstance(cfg, dict) else {}
    except Exception:  # noqa: BLE001 - a torn config must not break the report
        return {}


def _from_files(cid: str, val: dict, fit: dict, evd: dict) -> CandidateData:
    """A candidate the summary has no row for yet: what its event log entries and its files say."""
    it, sample = place(cid)
    if fit:
        status = Status.of(fit.get("status") or "ok", Status.OK)
    elif val.get("status") == "rejected" or evd.get("status") == "rejected":
        status = Status.REJECTED
    else:
        status = Status.TRAINING if val else Status.PENDING
    error_class = fit.get("error_class") or val.get("error_class") or evd.get("error_class")
    message = fit.get("message") or val.get("message") or evd.get("message") or ""
    failure = Failure(str(error_class or ""), str(message)) if error_class or message else None
    parent, island, steps = evd.get("parent"), evd.get("island"), fit.get("steps")
    return CandidateData(cid, it or 0, sample or 0, status=status, failure=failure,
                         fitness=_num(fit.get("fitness", evd.get("fitness"))),
                         parent=parent if isinstance(parent, str) else None,
                         island=island if isinstance(island, int) else 0,
                         steps=steps if isinstance(steps, int) else 0)


def _candidates(root: Path, summary: Summary | None, events: list[dict]) -> list[CandidateData]:
    rows = {c.id: c for c in (summary.candidates if summary is not None else [])}
    ev: dict[str, dict] = {}
    for e in events:
        cid = e.get("id")
        if isinstance(cid, str) and e.get("event") in ("designed", "validated", "trained"):
            ev.setdefault(cid, {}).update({k: v for k, v in e.items() if k not in ("time", "event")})
    cdir = root / "candidates"
    on_disk = sorted(p.name for p in cdir.iterdir() if p.is_dir()) if cdir.is_dir() else []
    ids = list(dict.fromkeys(list(rows) + list(ev) + on_disk))
    out = []
    for cid in ids:
        d = cdir / cid
        val = _json(d / "validation.json", {}) or {}
        fit = _json(d / "fitness.json", {}) or {}
        row = rows.get(cid)
        c = CandidateData.of(row) if row is not None else _from_files(cid, val, fit, ev.get(cid, {}))
        if row is not None and not c.steps and isinstance(fit.get("steps"), int):
            c.steps = fit["steps"]  # a training that failed part-way: the steps it made
        code, reflection = _text(d / "reward.py"), _text(d / "reflection.txt")
        c.code = code or c.code
        if reflection is not None:
            c.reflection = replace(c.reflection, text=reflection) if c.reflection else Reflection(text=reflection)
        video = d / "rollout.mp4"
        prompt = _json(d / "prompt.json")
        c.train_wall_s, c.dir = _num(fit.get("wall_time_s")), (d if d.is_dir() else None)
        c.metrics, c.video = _jsonl(d / "metrics.jsonl"), (video if video.is_file() else None)
        c.prompt = prompt if isinstance(prompt, list) else None
        out.append(c)
    last_video: dict[str, dict] = {}  # the last word on each candidate's video
    for e in events:
        if e.get("event") in ("video", "video_failed"):
            last_video[str(e.get("id"))] = e
    for c in out:
        vid = last_video.get(c.id)
        if vid is not None and vid.get("event") == "video_failed":
            c.video, c.video_error = None, str(vid.get("message") or "recording failed")  # a torn file may remain
    out.sort(key=lambda c: (c.iteration, c.sample, c.id))
    return out


def load_run(path: str | Path) -> RunData:
    """Read ``path``; raise ``FileNotFoundError`` when it is not a run directory."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"no such run directory: {root}")
    markers = ("summary.json", "events.jsonl", "config.yaml", "candidates")
    if not any((root / m).exists() for m in markers):
        raise FileNotFoundError(f"{root} is not a eureka run directory (no summary.json, events.jsonl, "
                                f"config.yaml or candidates/)")
    summary = load_summary(root)
    config_text = _text(root / "config.yaml")
    events = _jsonl(root / "events.jsonl")
    fe = summary.final if summary is not None else None

    def stats(recorded: SeedStats | None, dirs: list[Path], prefix: str) -> SeedStats:
        """The summary's figures once written; until then what the trainings' directories hold."""
        st = recorded if recorded is not None else SeedStats()
        return st if st.mean is not None else st.merged(stats_from_dirs(dirs, prefix))

    final = stats(fe.best if fe else None, list((root / "final").glob("*")), "best")
    dirs = list((root / "baselines").glob("*"))
    env = stats(fe.env_reward if fe else None, dirs, "env")
    sparse = stats(fe.sparse if fe else None, dirs, "sparse")
    prefs = _json(root / "preference_scores.json", {}) or {}
    return RunData(path=root, summary=summary, config_text=config_text, config=_config(config_text),
                   events=events, candidates=_candidates(root, summary, events), final=final,
                   env_baseline=env, sparse_baseline=sparse,
                   preference_scores=prefs if isinstance(prefs, dict) else {},
                   preferences=_jsonl(root / "preferences.jsonl"))


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Expand each path: a run directory itself, or a multirun directory holding run directories."""
    out: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if (p / "summary.json").exists() or (p / "events.jsonl").exists() or (p / "candidates").is_dir():
            out.append(p)
            continue
        subs = sorted(d for d in p.glob("*") if d.is_dir() and ((d / "summary.json").exists()
                                                                 or (d / "events.jsonl").exists()))
        out += subs if subs else [p]
    return out


def fmt(v, digits: int = 3) -> str:
    """A number for a table: ``digits`` significant digits, thousands separators when large, ``-`` for None."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:,.0f}"
    return str(v)


def ago(t: float | None) -> str:
    """'12 s ago' style text for a unix time."""
    if t is None:
        return "never"
    dt = max(0.0, time.time() - t)
    if dt < 120:
        return f"{dt:.0f} s ago"
    if dt < 7200:
        return f"{dt / 60:.0f} min ago"
    return f"{dt / 3600:.1f} h ago"


__all__ = ["CandidateData", "RunData", "SeedStats", "ago", "find_runs", "load_run", "stats_from_dirs"]
