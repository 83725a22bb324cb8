"""The ``eureka`` command: a Hydra app around the loop, with one-line errors for user mistakes."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import eureka.config  # noqa: F401 - registers the config schema (eureka_schema)
from eureka.errors import ConfigError, EurekaError, closest, did_you_mean
from eureka.paths import conf_dir

GROUPS = ("task", "llm", "trainer", "sandbox", "loop", "feedback", "executor")
_HYDRA_FLAGS = ("--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--version", "--shell-completion",
                "-sc", "--resolve", "--package", "-p")


def group_options(group: str, config_dirs: tuple[str, ...] = ()) -> list[str]:
    """Config options of ``group``: eureka's ``conf/``, the ``--config-dir`` folders, and task files' settings."""
    from hydra.core.config_store import ConfigStore

    names = {p.stem for d in (conf_dir(), *map(Path, config_dirs)) for p in (d / group).glob("*.yaml")}
    try:
        names |= {n.removesuffix(".yaml") for n in ConfigStore.instance().list(group)}
    except (OSError, ValueError):  # no such group in the store
        pass
    return sorted(names)


# Hydra flags that take a value (the value is not an override)
_VALUE_FLAGS = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--cfg", "-c", "--package",
                "-p", "--shell-completion", "--experimental-rerun")


def split_flags(args: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """The overrides of the command line (flags and their values left out) and its ``--config-dir`` folders."""
    plain, dirs, skip = [], [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a.startswith("-"):
            flag, eq, value = a.partition("=")
            if flag in _VALUE_FLAGS and not eq:
                skip = True
                value = args[i + 1] if i + 1 < len(args) else ""
            if flag in ("--config-dir", "-cd") and value:
                dirs.append(str(Path(value).expanduser().resolve()))
            continue
        plain.append(a)
    return plain, tuple(dirs)


def _flat_keys(cfg, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    keys = []
    for k in cfg.keys():
        full = f"{prefix}{k}"
        keys.append(full)
        try:
            value = cfg._get_node(k)
        except Exception:  # noqa: BLE001
            continue
        if isinstance(value, DictConfig):
            keys += _flat_keys(value, full + ".")
    return keys


_EXPECTED = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "ListConfig": "a list, e.g. [1,2]",
             "DictConfig": "a mapping, e.g. {a: 1}"}


def _type_error(text: str, exc: BaseException) -> str:
    """``key=value: expected <type>`` from OmegaConf's validation error of one override."""
    key, _, value = text.partition("=")
    cause = str(exc.__cause__ or exc).strip().splitlines()[0]
    choice = _INVALID_CHOICE.match(cause)  # an Enum field (eureka.config.Choice) refused by Hydra
    if choice:
        valid = [c.strip() for c in choice.group(2).split(",")]
        return (f"{key}={value}: not a valid choice; valid choices: {', '.join(valid)}."
                f"{did_you_mean(choice.group(1), valid)}")
    expected = next((v for k, v in _EXPECTED.items() if k in cause), None)
    low = " >= 1" if key.lstrip("+~") in _AT_LEAST_ONE else ""
    return f"{key}={value}: expected {expected}{low}" if expected else f"{key}={value}: {cause}"


_INVALID_CHOICE = re.compile(r"^Invalid value '(.*)', expected one of \[(.*)\]")

_AT_LEAST_ONE = ("iterations", "samples", "loop.population", "loop.islands", "eval.episodes", "eval.num_seeds",
                 "trainer.total_timesteps", "trainer.n_envs", "trainer.num_envs")


def compose_configs(args: list[str]) -> list:
    """Compose the config of the command line (one per task of a sweep; other sweeps take their first value).

    Raises ``ConfigError`` (one line, with the closest match) for a wrong group choice, key or type.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException


    plain, config_dirs = split_flags(args)
    try:
        overrides = OverridesParser.create().parse_overrides(plain)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot parse the command line: {str(exc).splitlines()[0]}") from None
    single: list[str] = []
    task_values: list[str | None] = [None]
    for ov, text in zip(overrides, plain, strict=True):
        key = ov.key_or_group
        if key.startswith("hydra"):
            continue
        values = [str(v) for v in ov.sweep_iterator()] if ov.is_sweep_override() else None
        if key in GROUPS and ov.package is None and not ov.is_delete():
            options = group_options(key, config_dirs)
            for value in values or [str(ov.value())]:
                if value not in options:
                    match = closest(value, options)
                    hint = f" Did you mean '{match}'?" if match else ""
                    raise ConfigError(f"unknown {key} '{value}'; valid choices: {', '.join(options)}.{hint}")
        if values is not None:
            if key == "task":
                task_values = list[str | None](values)
                continue
            text = f"{key}={values[0]}"
        single.append(text)
    configs = []
    # like Hydra's --config-dir: the user's folders join the search path
    search = [f"hydra.searchpath=[{','.join('file://' + d for d in config_dirs)}]"] if config_dirs else []
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        for task in task_values:
            extra = search + ([] if task is None else [f"task={task}"])
            try:
                configs.append(compose("config", overrides=single + extra))
            except (HydraException, OmegaConfBaseException) as exc:
                message = str(exc).strip().splitlines()[0]
                keys = _flat_keys(compose("config", overrides=search))
                for text in single:
                    key = text.split("=", 1)[0].lstrip("+~")
                    if key and key not in keys and key not in GROUPS and not text.startswith("+"):
                        match = closest(key, keys)
                        hint = f" Did you mean '{match}'?" if match else ""
                        raise ConfigError(f"unknown config key '{key}'.{hint}") from None
                    if message.startswith("Error merging override") and message.endswith(text):
                        raise ConfigError(_type_error(text, exc)) from None
                raise ConfigError(message) from None
    return configs


def validate_overrides(args: list[str]) -> None:
    """Raise ``ConfigError`` (one line) for a wrong group choice, key, type or value of the command line."""
    from eureka.config import check_config
    from eureka.prefer.port import check_feedback

    for cfg in compose_configs(args):
        check_config(cfg)
        check_feedback(cfg)


# Each config checked before Hydra starts (its YAML -> its typed form): the run of the same config in this
# process (Hydra's basic launcher) takes the typed, checked object as it is, so nothing is checked twice.
_CHECKED: dict[str, Any] = {}


def preflight(cfg) -> None:
    """Before any work: the config's values, then the task (loads, env builds and steps, states as declared)."""
    from omegaconf import OmegaConf

    from eureka import tasks
    from eureka.check import preflight as check_task
    from eureka.config import check_action_space, check_config, typed
    from eureka.prefer.port import check_feedback
    from eureka.train.vector.sims import check_vector_backend

    key = OmegaConf.to_yaml(cfg)
    cfg = typed(cfg)
    check_config(cfg)
    check_feedback(cfg)
    task = tasks.make(cfg.task.name)
    check_action_space(cfg, check_task(task))
    check_vector_backend(cfg, task)  # the vector backend's settings and simulator: ConfigError before any work
    _CHECKED[key] = cfg


def start_children(cfg) -> None:
    """Start the forkserver every training and check is forked from now: its imports (torch, Gymnasium, SB3:
    seconds) then run beside the checks of the config and the task instead of before the first check of a
    reward. ``cfg``: the (first) run's config, whose ``sandbox.env_allow`` the children keep."""
    from eureka import procs

    procs.keep_env(list(cfg.sandbox.env_allow))
    procs.context()


def checked_config(cfg) -> tuple[Any, bool]:
    """The typed config of Hydra's ``cfg``, and whether ``preflight`` checked it already in this process."""
    from omegaconf import OmegaConf

    from eureka.config import typed

    done = _CHECKED.get(OmegaConf.to_yaml(cfg))
    return (done, True) if done is not None else (typed(cfg), False)


LLM_PROVIDERS = ("openai", "replay")  # designers whose code comes from an LLM (replay: one recorded earlier)
EXIT_WEAKER_WALLS = 3  # the machine refuses walls and the user did not opt in to running LLM code anyway


def sandbox_gate(configs: list) -> None:
    """Before any candidate code runs: probe the walls; say in one line which are missing and why; stop
    (exit 3) when LLM code would run without them and ``sandbox.allow_weaker`` is off."""
    from eureka.config import typed
    from eureka.sandbox.probe import missing_walls, startup_line

    missing = missing_walls()
    if not missing:
        return
    cfgs = [typed(c) for c in configs]
    llm = [c for c in cfgs if c.llm.provider in LLM_PROVIDERS]
    allowed = all(c.sandbox.allow_weaker for c in llm)
    print(startup_line(missing, bool(llm), allowed), file=sys.stderr, flush=True)
    if llm and not allowed:
        sys.exit(EXIT_WEAKER_WALLS)


EARLY_OUTPUT: list[str] = []  # printed while the task and its libraries loaded, before the run directory existed


def print_help(args: list[str], out) -> None:
    """``eureka --help``: the groups, the defaults of every key the command line accepts (not ``llm.api_key``,
    which it refuses), and examples; like Hydra's help, from the same header and footer."""
    import yaml
    from omegaconf import OmegaConf

    plain = [a for a in args if not a.startswith("-")]
    try:
        cfg = compose_configs(plain)[0]
    except EurekaError:
        cfg = compose_configs([])[0]
    tree = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)  # choice fields are Enums
    assert isinstance(tree, dict)
    for dotted in CLI_REFUSED:
        node = tree
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.get(p, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    hydra_cfg = yaml.safe_load((conf_dir() / "config.yaml").read_text())["hydra"]["help"]
    groups = "\n".join(f"{g}: {', '.join(group_options(g))}" for g in GROUPS)
    out.write(f"{hydra_cfg['header']}\n\n== Config groups ==\nCompose your configuration from those groups "
              f"(group=option)\n\n{groups}\n\n== Defaults ==\n"
              f"{yaml.safe_dump(tree, sort_keys=False, default_flow_style=False)}\n{hydra_cfg['footer']}\n")


CLI_REFUSED = ("llm.api_key",)  # keys the command line refuses (take_api_key): never offered by --help


def _app(cfg) -> None:
    from hydra.core.hydra_config import HydraConfig

    from eureka.evolve import EurekaLoop
    from eureka.report import RichReporter, make_console, print_summary, report_after_run

    # the composed config becomes one typed object (EurekaConfig); the code reads its attributes
    cfg, checked = checked_config(cfg)
    run_dir = HydraConfig.get().runtime.output_dir
    console = make_console()
    for name in ("httpx", "httpx2", "httpcore", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if any(text.strip() for text in EARLY_OUTPUT):  # the run's log (eureka.log), never the terminal
        logging.getLogger("eureka").info("output while the task loaded:\n%s", "".join(EARLY_OUTPUT).rstrip())
    loop = None
    try:
        with RichReporter(console) as reporter:
            loop = EurekaLoop(cfg, run_dir, reporter, checked=checked)
            try:
                summary = loop.run()
            finally:
                loop.executor.shutdown()
        best = summary.best
        best_code = Path(best.reward_path).read_text() if best is not None and best.reward_path else None
        print_summary(summary, console, run_dir, best_code)
    except EurekaError as exc:
        console.print(f"[red]eureka: error:[/] {exc}", soft_wrap=True)
        console.print(f"What was done so far is in {run_dir}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]; what was done so far is in {run_dir}; continue with: "
                      f"eureka resume={run_dir}", soft_wrap=True)
        sys.exit(130)
    except Terminated:
        console.print(f"[yellow]terminated (SIGTERM)[/]; what was done so far is in {run_dir}; continue with: "
                      f"eureka resume={run_dir}", soft_wrap=True)
        sys.exit(143)
    except Exception as exc:  # noqa: BLE001 - never a bare traceback
        log = Path(run_dir) / "error.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        console.print(f"[red]eureka: internal error:[/] {type(exc).__name__}: {exc} (traceback in {log})",
                      soft_wrap=True)
        sys.exit(1)
    finally:
        report_after_run(run_dir, console)  # report.html after success, stop, error or Ctrl-C; never fails the run


class Terminated(BaseException):  # noqa: N818 - like KeyboardInterrupt
    """SIGTERM arrived: unwind (every child is killed on the way out) and exit 143."""


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001
    raise Terminated()


API_KEY_ARG = re.compile(r"^\+{0,2}llm\.api_key=(.*)$")


def take_api_key(args: list[str]) -> list[str]:
    """Refuse ``llm.api_key=...`` on the command line (exit 2): the key belongs in the environment.

    A command line is readable by every user of the machine (``ps``, ``/proc/<pid>/cmdline``)
    from the moment the process starts until it ends, before any code could hide it, and it
    stays in the shell's history: no run may carry a key there.
    """
    for a in args:
        m = API_KEY_ARG.match(a)
        if m and m.group(1) not in ("", "null"):
            print("eureka: error: llm.api_key on the command line is readable by every user of this machine "
                  "(ps, /proc/<pid>/cmdline) for as long as the run lasts, and stays in your shell history; "
                  "set it in the environment instead: export OPENAI_API_KEY=...", file=sys.stderr)
            sys.exit(2)
    return [a for a in args if not API_KEY_ARG.match(a)]


def register_task_file(value: str) -> str:
    """Load the task file ``value`` and make it (with its ``settings``) the config option ``task=<its name>``.

    Hydra then applies the file's settings like those of ``conf/task/<name>.yaml``, the command line
    overrides them, and the run goes to ``outputs/<name>/<time>``. Raises ``ConfigError`` (one line).
    """
    from hydra.core.config_store import ConfigStore

    from eureka.tasks import load_task_file
    from eureka.tasks.settings import as_task_config

    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"task file not found: {path}")
    task = load_task_file(path)[0]
    if (conf_dir() / "task" / f"{task.name}.yaml").is_file():
        raise ConfigError(f"{path}: the task is named '{task.name}' like a built-in task; give it another name")
    ConfigStore.instance().store(group="task", name=task.name, node=as_task_config(task, path), package="_global_")
    return task.name


def _task_path_override(arg: str) -> str:
    """``task=path/to/my_task.py`` (or a comma list for -m) becomes ``task=<the task's name>`` (see above)."""
    if not arg.startswith("task="):
        return arg
    values = arg[5:].split(",")
    if not any(v.endswith(".py") for v in values):
        return arg
    return "task=" + ",".join(register_task_file(v) if v.endswith(".py") else v for v in values)


# SB3 keyword arguments, the vector backend's PPO settings and prices are open mappings: `trainer.ppo.n_steps=256`
# adds or overrides (Hydra's ++); trainer.vector's keys are checked against PPOSettings (check_config)
_OPEN_KEY = re.compile(r"^(trainer\.(ppo|sac|vector)|llm\.prices)\.[^=]+=")


def _open_key_override(arg: str) -> str:
    return "++" + arg if _OPEN_KEY.match(arg) else arg


def _resolve_task_path(args: list[str], cfg) -> list[str]:
    """A relative ``task.name: my_task.py`` (e.g. of one's own ``--config-dir``) becomes an absolute path
    (from the current folder, else a config folder or its parent), so every process finds the same file."""
    name = cfg.task.name
    if not name.endswith(".py") or Path(name).is_absolute():
        return args
    _, dirs = split_flags(args)
    for base in (Path.cwd(), *(Path(d) for d in dirs), *(Path(d).parent for d in dirs)):
        if (base / name).is_file():
            return [*args, f"task.name={(base / name).resolve()}"]
    raise ConfigError(f"task.name={name}: task file not found (looked in {Path.cwd()}"
                      f"{''.join(', ' + d for d in dirs)})")


# What a resumed run may change: how long it goes on and how it runs, not what was already done.
RESUMABLE = ("iterations", "eval.", "video", "video_steps", "executor", "llm.timeout_s", "llm.max_retries",
             "llm.concurrency", "llm.budget", "llm.base_url", "llm.cache", "feedback.timeout_s", "feedback.open_browser",
             "trainer.timeout_s", "trainer.sim_threads", "hydra.")


def resume_args(args: list[str]) -> list[str]:
    """``resume=<run_dir> [overrides]`` becomes the run's own command line, the allowed overrides, and its dir."""
    import yaml

    target = [a for a in args if a.startswith("resume=")]
    if not target:
        return args
    run_dir = Path(target[-1].split("=", 1)[1]).expanduser().resolve()
    saved = run_dir / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        raise ConfigError(f"resume={run_dir}: not a run directory of eureka (no .hydra/overrides.yaml)")
    new = [a for a in args if not a.startswith("resume=")]
    for a in new:
        key = a.lstrip("+~").split("=", 1)[0]
        if a.startswith("-") or not key.startswith(RESUMABLE):
            raise ConfigError(f"resume: '{a}' would change what was already done; a resumed run may change only "
                              f"{', '.join(k.rstrip('.') for k in RESUMABLE)}")
    original = [str(o) for o in yaml.safe_load(saved.read_text()) or []]
    saved_cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").is_file() else {}
    done_iters = saved_cfg.get("iterations")
    for a in new:
        if a.startswith("iterations=") and done_iters is not None and int(a.split("=", 1)[1]) < int(done_iters):
            raise ConfigError(f"resume: iterations can only grow (the run was started with iterations={done_iters})")
    replaced = {a.split("=", 1)[0] for a in new}
    kept = [o for o in original if o.lstrip("+~").split("=", 1)[0] not in replaced
            and not o.startswith("hydra.run.dir=")]
    task_file = str((saved_cfg.get("task") or {}).get("name", ""))
    if task_file.endswith(".py"):  # a task file's run: its option is made again from the file
        kept = [f"task={task_file}" if o.startswith("task=") else o for o in kept]
    return kept + new + [f"hydra.run.dir={run_dir}"]


def main() -> None:
    """Console entry point."""
    import hydra

    from eureka.sandbox.walls import protect_secrets_of_this_process

    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no dependency banner on the terminal
    protect_secrets_of_this_process()  # children cannot read this process's environ or memory
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = resume_args(take_api_key(sys.argv[1:]))
    except ConfigError as exc:
        print(f"eureka: error: {exc}", file=sys.stderr)
        sys.exit(2)
    early = io.StringIO()  # what task files and libraries print while loading: the run's log, not the terminal
    configs: list = []
    try:
        with contextlib.redirect_stdout(early), contextlib.redirect_stderr(early):
            args = [_open_key_override(_task_path_override(a)) for a in args]
            if any(a in ("--help", "-h") for a in args):
                print_help(args, sys.__stdout__)
                sys.exit(0)
            if not any(a in _HYDRA_FLAGS or a.startswith(("--cfg", "--info", "--package")) for a in args):
                configs = compose_configs(args)
                if len(configs) == 1 and (resolved := _resolve_task_path(args, configs[0])) != args:
                    args, configs = resolved, compose_configs(resolved)
                if configs:
                    start_children(configs[0])
                for cfg in configs:
                    preflight(cfg)
        if configs:
            sandbox_gate(configs)  # its line goes to the terminal, not to the early output
    except EurekaError as exc:
        sys.stderr.write(early.getvalue())  # a failing task file's own output helps find the mistake
        print(f"eureka: error: {exc}", file=sys.stderr)
        sys.exit(2)
    EARLY_OUTPUT.append(early.getvalue())
    sys.argv[1:] = args
    hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")(_app)()


if __name__ == "__main__":
    main()
