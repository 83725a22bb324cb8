"""Read a run directory (finished, stopped or still running) into one typed record for the report.

Every file is optional: a run that is still in its first iteration has no ``summary.json`` yet, a
stopped run has no ``final/``, and the summary's schema grows over time. Keys are therefore read in
one place, here, with defaults; the HTML page, the terminal view and TensorBoard only see ``RunData``.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from eureka.analyze.estimate import ROLES, Estimate, Training, Verdict, estimate, verdict
from eureka.analyze.hacking import Signal, from_metrics
from eureka.store.safe import read_text

_CAND_RE = re.compile(r"iter(\d+)_sample(\d+)")
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


@dataclass
class SeedStats:
    """Fitness of one re-trained reward over several seeds (final evaluation or a baseline)."""

    per_seed: dict[str, float | None] = field(default_factory=dict)
    mean: float | None = None
    std: float | None = None

    @property
    def values(self) -> list[float]:
        return [v for v in self.per_seed.values() if v is not None]

    @property
    def seeds(self) -> list[str]:
        return list(self.per_seed)

    @classmethod
    def from_summary(cls, d: Any) -> SeedStats:
        per = {str(k): _num(v) for k, v in (_get(d, "per_seed", default={}) or {}).items()}
        if not per and isinstance(_get(d, "seeds"), list) and isinstance(_get(d, "values"), list):
            per = {str(s): _num(v) for s, v in zip(d["seeds"], d["values"], strict=False)}
        st = cls(per, _num(_get(d, "mean")), _num(_get(d, "std")))
        return st.filled()

    @classmethod
    def from_dirs(cls, dirs: list[Path], prefix: str) -> SeedStats:
        """``<prefix>_seed<s>/fitness.json`` files (what a running or stopped run already has)."""
        per: dict[str, float | None] = {}
        for d in sorted(dirs):
            m = re.fullmatch(rf"{re.escape(prefix)}_seed(-?\d+)", d.name)
            if m:
                per[m.group(1)] = _num(_get(_json(d / "fitness.json", {}), "fitness"))
        return cls(per).filled()

    def filled(self) -> SeedStats:
        vals = self.values
        if self.mean is None and vals:
            self.mean = statistics.fmean(vals)
        if self.std is None and vals:
            self.std = statistics.pstdev(vals) if len(vals) > 1 else 0.0
        return self

    def merged(self, other: SeedStats) -> SeedStats:
        """Fill seeds this record lacks (or has as null) from ``other``."""
        if not other.per_seed:
            return self
        per = dict(self.per_seed)
        for s, v in other.per_seed.items():
            if per.get(s) is None:
                per[s] = v
        if per == self.per_seed:
            return self
        return SeedStats(per).filled()


@dataclass
class CandidateData:
    """One candidate reward: its row in the summary plus what its directory holds."""

    id: str
    iteration: int
    sample: int
    status: str = "pending"
    error_class: str | None = None
    message: str = ""
    fitness: float | None = None
    parent: str | None = None
    island: int | None = None
    preference: float | None = None
    steps: int | None = None
    stopped_at: Any = None
    train_wall_s: float | None = None
    dir: Path | None = None
    code: str | None = None
    reflection: str | None = None
    metrics: list[dict] = field(default_factory=list)
    video: Path | None = None
    video_error: str | None = None
    prompt: list[dict] | None = None
    search_seeds: dict[str, float | None] = field(default_factory=dict)  # search seed -> fitness (racing)
    score: float | None = None  # the racing statistic over its seeds
    env_corr: float | None = None  # correlation of its reward with the env's own over its training rollouts
    tuning: dict | None = None  # a tuned copy of its parent: constants before/after, gain
    signals: list[str] = field(default_factory=list)  # reward-hacking signals its reflection raised

    @property
    def component_names(self) -> list[str]:
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
    summary: dict
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

    # -- headline figures -----------------------------------------------------------------
    @property
    def task(self) -> str:
        return str(self.summary.get("task") or _get(self.config, "task", "name") or "?")

    @property
    def llm(self) -> str:
        return str(self.summary.get("llm") or _get(self.config, "llm", "provider") or "?")

    @property
    def model(self) -> str:
        return str(self.summary.get("model") or _get(self.config, "llm", "model") or "")

    @property
    def status(self) -> str:
        """completed / stopped / all_failed / running / starting (from the summary or the event log)."""
        status = self.summary.get("status")
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
        best = self.summary.get("best_candidate")
        if best:
            return str(best)
        ok = [c for c in self.candidates if c.fitness is not None]
        return max(ok, key=lambda c: cast(float, c.fitness)).id if ok else None

    @property
    def best(self) -> CandidateData | None:
        bid = self.best_id
        return next((c for c in self.candidates if c.id == bid), None)

    @property
    def best_search_fitness(self) -> float | None:
        v = _num(self.summary.get("best_fitness"))
        if v is None and self.best is not None:
            v = self.best.fitness
        return v

    @property
    def best_selection_fitness(self) -> float | None:
        """The selected reward's mean over the search seeds that chose it (optimistic: chosen as the best)."""
        v = _num(self.summary.get("best_selection_fitness"))
        return v if v is not None else self.best_search_fitness

    @property
    def confirmed(self) -> SeedStats:
        """The selected reward re-trained on held-out search seeds at the end of the search (empty: none)."""
        return SeedStats.from_summary(self.summary.get("best_confirmed") or {})

    @property
    def search_basis(self) -> str:
        """What the search's fitness of the selected reward rests on, in words (optimistic unless held out)."""
        best, conf = self.best, self.confirmed
        seeds = list(best.search_seeds) if best else []
        chose = f"mean over search seeds {', '.join(seeds)}" if len(seeds) > 1 else "one seed"
        if conf.mean is None:
            return f"{chose}, the best of several candidates: optimistic"
        return (f"mean over held-out search seeds {', '.join(conf.seeds)}, which played no part in choosing it; "
                f"its {chose} that chose it: {fmt(self.best_selection_fitness)} (optimistic)")

    @property
    def search_seed(self) -> int | None:
        for v in (self.summary.get("search_seed"), _get(self.config, "seed")):
            if v is not None:
                try:
                    return int(v)
                except (TypeError, ValueError):
                    continue
        return None

    @property
    def final_seeds(self) -> list[str]:
        seeds = _get(self.summary, "final_eval", "seeds")
        if isinstance(seeds, list) and seeds:
            return [str(s) for s in seeds]
        if self.final.per_seed:
            return self.final.seeds
        cfg = _get(self.config, "eval", "seeds")
        return [str(s) for s in cfg] if isinstance(cfg, list) else []

    @property
    def human_normalized_score(self) -> float | None:
        v = self.summary.get("human_normalized_score")
        if isinstance(v, dict):
            v = v.get("value", v.get("score"))
        v = _num(v)
        if v is None:
            f, e, s = self.final.mean, self.env_baseline.mean, self.sparse_baseline.mean
            if f is not None and e is not None and s is not None and abs(e - s) > 1e-12:
                v = (f - s) / abs(e - s)
        return v

    @property
    def hns_note(self) -> str | None:
        """The summary's caution about a small denominator, or ours when the baselines' gap is within noise."""
        for key in ("human_normalized_score_note", "hns_note", "normalized_score_note"):
            if self.summary.get(key):
                return str(self.summary[key])
        hns = self.summary.get("human_normalized_score")
        if isinstance(hns, dict) and hns.get("note"):
            return str(hns["note"])
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
    def llm_usage(self) -> dict:
        usage = dict(self.summary.get("llm_usage") or {})
        if not usage:
            designed = [e for e in self.events if e.get("event") == "designed"]
            usage = {"prompt_tokens": sum(int(e.get("prompt_tokens") or 0) for e in designed),
                     "completion_tokens": sum(int(e.get("completion_tokens") or 0) for e in designed)}
        return usage

    @property
    def wall_time_s(self) -> float | None:
        v = _num(self.summary.get("wall_time_s"))
        if v is None and self.events:
            t = [x for x in (_num(e.get("time")) for e in self.events) if x is not None]
            v = max(t) - min(t) if t else None
        return v

    @property
    def env_steps(self) -> int | None:
        v = self.summary.get("search_env_steps")
        if v is None:
            steps = [c.steps for c in self.candidates if c.steps]
            v = sum(steps) if steps else None
        return int(v) if v is not None else None

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
        rows = _get(self.summary, "chosen_reward", "values", default=None)
        if isinstance(rows, list):
            out = []
            for r in rows:
                if isinstance(r, dict) and r.get("role") in ROLES:
                    try:
                        out.append(Training(int(cast(Any, r.get("seed"))), str(r["role"]), _num(r.get("fitness"))))
                    except (TypeError, ValueError):
                        continue
            return out
        best, out = self.best, []
        if best is not None:
            out += [Training(int(s), "selection", v) for s, v in best.search_seeds.items() if s.lstrip("-").isdigit()]
            if _get(self.summary, "best_confirmed", "candidate", default=best.id) == best.id:
                out += [Training(int(s), "held_out", v) for s, v in self.confirmed.per_seed.items()
                        if s.lstrip("-").isdigit()]
        out += [Training(int(s), "final", v) for s, v in self.final.per_seed.items() if s.lstrip("-").isdigit()]
        return out

    @property
    def chosen(self) -> Estimate:
        """One estimate of the chosen reward from all its trainings (recomputed for older summaries)."""
        recorded = self.summary.get("chosen_reward")
        est = estimate(self.chosen_trainings())
        if isinstance(recorded, dict) and _num(recorded.get("mean")) is not None:
            ci = cast(list[Any], recorded.get("ci")) if isinstance(recorded.get("ci"), list) else [None, None]
            est.mean = _num(recorded.get("mean"))
            est.ci = (_num(ci[0]) if ci else None, _num(ci[1]) if len(ci) > 1 else None)
        return est

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
        return list(dict.fromkeys(cand.signals + [s.kind for s in self.signals_for(cand)]))


def _config(text: str | None) -> dict:
    if not text:
        return {}
    try:
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
        return cfg if isinstance(cfg, dict) else {}
    except Exception:  # noqa: BLE001 - a torn config must not break the report
        return {}


def _candidates(root: Path, summary: dict, events: list[dict]) -> list[CandidateData]:
    rows: dict[str, dict] = {}
    for it in summary.get("iterations") or []:
        for c in (it or {}).get("candidates") or []:
            if isinstance(c, dict) and c.get("id"):
                rows[str(c["id"])] = {**c, "iteration": it.get("iteration", c.get("iteration"))}
    ev: dict[str, dict] = {}
    for e in events:
        cid = e.get("id")
        if isinstance(cid, str) and e.get("event") in ("designed", "validated", "trained"):
            ev.setdefault(cid, {}).update({k: v for k, v in e.items() if k not in ("time", "event")})
    cdir = root / "candidates"
    on_disk = sorted(p.name for p in cdir.iterdir() if p.is_dir()) if cdir.is_dir() else []
    ids = list(rows) + [c for c in list(ev) + on_disk if c not in rows]
    ids = list(dict.fromkeys(ids))
    out = []
    for cid in ids:
        d = cdir / cid
        row = rows.get(cid, {})
        m = _CAND_RE.search(cid)
        it = row.get("iteration")
        it = int(it) if it is not None else (int(m.group(1)) if m else 0)
        sample = int(m.group(2)) if m else 0
        val = _json(d / "validation.json", {}) or {}
        fit = _json(d / "fitness.json", {}) or {}
        evd = ev.get(cid, {})
        status = row.get("status")
        if status is None:
            if fit:
                status = fit.get("status") or "ok"
            elif val.get("status") == "rejected" or evd.get("status") == "rejected":
                status = "rejected"
            elif val:
                status = "training"
            else:
                status = "pending"
        fitness = _num(row.get("fitness")) if "fitness" in row else _num(fit.get("fitness", evd.get("fitness")))
        error_class = row.get("error_class") or fit.get("error_class") or val.get("error_class") or evd.get("error_class")
        message = row.get("message") or fit.get("message") or val.get("message") or evd.get("message") or ""
        video = d / "rollout.mp4"
        prompt = _json(d / "prompt.json")
        out.append(CandidateData(
            id=cid, iteration=it, sample=sample, status=str(status), error_class=error_class,
            message=str(message), fitness=fitness, parent=row.get("parent", evd.get("parent")),
            island=row.get("island", evd.get("island")), preference=_num(row.get("preference")),
            steps=row.get("steps") or fit.get("steps"), stopped_at=row.get("stopped_at"),
            train_wall_s=_num(fit.get("wall_time_s")), dir=d if d.is_dir() else None,
            code=_text(d / "reward.py"), reflection=_text(d / "reflection.txt"),
            metrics=_jsonl(d / "metrics.jsonl"), video=video if video.is_file() else None,
            prompt=prompt if isinstance(prompt, list) else None,
            search_seeds={str(k): _num(v) for k, v in (row.get("search_seeds") or {}).items()}
            if isinstance(row.get("search_seeds"), dict) else {},
            score=_num(row.get("score")), env_corr=_num(row.get("env_reward_corr")),
            tuning=row.get("tuning") if isinstance(row.get("tuning"), dict) else None,
            signals=[str(k) for k in row.get("signals") or [] if isinstance(k, str)]
            if isinstance(row.get("signals"), list) else []))
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
    summary = _json(root / "summary.json", {}) or {}
    if not isinstance(summary, dict):
        summary = {}
    config_text = _text(root / "config.yaml")
    events = _jsonl(root / "events.jsonl")
    def stats(recorded: Any, dirs: list[Path], prefix: str) -> SeedStats:
        """The summary's figures once written; until then what the trainings' directories hold."""
        st = SeedStats.from_summary(recorded)
        return st if st.mean is not None else st.merged(SeedStats.from_dirs(dirs, prefix))

    final = stats(summary.get("final_eval"), list((root / "final").glob("*")), "best")
    bl = summary.get("baselines") or {}
    dirs = list((root / "baselines").glob("*"))
    env = stats(bl.get("env_reward"), dirs, "env")
    sparse = stats(bl.get("sparse"), dirs, "sparse")
    if env.mean is None:
        env.mean = _num(bl.get("env_reward_fitness"))
    if sparse.mean is None:
        sparse.mean = _num(bl.get("sparse_fitness"))
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


__all__ = ["CandidateData", "RunData", "SeedStats", "ago", "find_runs", "load_run"]
