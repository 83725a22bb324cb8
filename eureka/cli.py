"""The ``eureka`` command: a Hydra app around the loop, with one-line errors for user mistakes."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import traceback
from pathlib import Path

import eureka.config  # noqa: F401 - registers the config schema (eureka_schema)
from eureka.errors import ConfigError, EurekaError, closest
from eureka.paths import conf_dir

GROUPS = ("task", "llm", "trainer", "sandbox", "loop", "feedback", "executor")
_HYDRA_FLAGS = ("--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--version", "--shell-completion",
                "-sc", "--resolve", "--package", "-p")


def group_options(group: str) -> list[str]:
    """Config files available for ``group``."""
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


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
    expected = next((v for k, v in _EXPECTED.items() if k in cause), None)
    low = " >= 1" if key.lstrip("+~") in _AT_LEAST_ONE else ""
    return f"{key}={value}: expected {expected}{low}" if expected else f"{key}={value}: {cause}"


_AT_LEAST_ONE = ("iterations", "samples", "loop.population", "loop.islands", "eval.episodes", "eval.num_seeds",
                 "trainer.total_timesteps", "trainer.n_envs")


def compose_configs(args: list[str]) -> list:
    """Compose the config of the command line (one per task of a sweep; other sweeps take their first value).

    Raises ``ConfigError`` (one line, with the closest match) for a wrong group choice, key or type.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException


    plain = [a for a in args if not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(plain)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot parse the command line: {str(exc).splitlines()[0]}") from None
    single, task_values = [], [None]
    for ov, text in zip(overrides, plain, strict=True):
        key = ov.key_or_group
        if key.startswith("hydra"):
            continue
        values = [str(v) for v in ov.sweep_iterator()] if ov.is_sweep_override() else None
        if key in GROUPS and ov.package is None and not ov.is_delete():
            options = group_options(key)
            for value in values or [str(ov.value())]:
                if value not in options:
                    match = closest(value, options)
                    hint = f" Did you mean '{match}'?" if match else ""
                    raise ConfigError(f"unknown {key} '{value}'; valid choices: {', '.join(options)}.{hint}")
        if values is not None:
            if key == "task":
                task_values = values
                continue
            text = f"{key}={values[0]}"
        single.append(text)
    configs = []
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        for task in task_values:
            extra = [] if task is None else [f"task={task}"]
            try:
                configs.append(compose("config", overrides=single + extra))
            except (HydraException, OmegaConfBaseException) as exc:
                message = str(exc).strip().splitlines()[0]
                keys = _flat_keys(compose("config"))
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

    for cfg in compose_configs(args):
        check_config(cfg)


def preflight(cfg) -> None:
    """Before any work: the config's values, then the task (loads, env builds and steps, states as declared)."""
    from eureka import tasks
    from eureka.check import preflight as check_task
    from eureka.config import check_action_space, check_config

    check_config(cfg)
    check_action_space(cfg, check_task(tasks.make(cfg.task.name)))


def _app(cfg) -> None:
    from hydra.core.hydra_config import HydraConfig
    from rich.console import Console

    from eureka.evolve import EurekaLoop
    from eureka.report import RichReporter, print_summary, report_after_run

    run_dir = HydraConfig.get().runtime.output_dir
    console = Console(stderr=False, log_path=False)
    for name in ("httpx", "httpx2", "httpcore", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)
    loop = None
    try:
        with RichReporter(console) as reporter:
            loop = EurekaLoop(cfg, run_dir, reporter)
            try:
                summary = loop.run().to_dict()
            finally:
                loop.executor.shutdown()
        best_code = Path(summary["best_reward_path"]).read_text() if summary["best_reward_path"] else None
        print_summary(summary, console, run_dir, best_code)
    except EurekaError as exc:
        console.print(f"[red]eureka: error:[/] {exc}", soft_wrap=True)
        console.print(f"What was done so far is in {run_dir}")
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
    """Remove ``llm.api_key=...`` from the command line and hand the key over in memory only.

    Hydra writes the command line into ``.hydra/`` and the resolved config into the run
    directory; the key must reach neither. It goes to ``OPENAI_API_KEY`` of this process
    (children are started without secret-looking variables, see ``eureka.procs``).
    """
    rest = []
    for a in args:
        m = API_KEY_ARG.match(a)
        if m:
            if m.group(1) not in ("", "null"):
                os.environ["OPENAI_API_KEY"] = m.group(1).strip("'\"")
            continue
        rest.append(a)
    return rest


def _task_path_override(arg: str) -> str | list[str]:
    """``task=path/to/my_task.py`` becomes ``task=custom task.name=/abs/path/my_task.py``."""
    if arg.startswith("task=") and arg.endswith(".py") and "," not in arg:
        path = Path(arg[5:]).expanduser()
        if not path.is_file():
            print(f"eureka: error: task file not found: {path}", file=sys.stderr)
            sys.exit(2)
        return ["task=custom", f"task.name={path.resolve()}"]
    return arg


# What a resumed run may change: how long it goes on and how it runs, not what was already done.
RESUMABLE = ("iterations", "eval.", "video", "video_steps", "executor", "llm.timeout_s", "llm.max_retries",
             "llm.concurrency", "llm.budget", "llm.base_url", "llm.cache", "feedback.timeout_s", "feedback.open_browser",
             "trainer.timeout_s", "hydra.")


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
    done_iters = yaml.safe_load((run_dir / "config.yaml").read_text()).get("iterations") \
        if (run_dir / "config.yaml").is_file() else None
    for a in new:
        if a.startswith("iterations=") and done_iters is not None and int(a.split("=", 1)[1]) < int(done_iters):
            raise ConfigError(f"resume: iterations can only grow (the run was started with iterations={done_iters})")
    replaced = {a.split("=", 1)[0] for a in new}
    kept = [o for o in original if o.lstrip("+~").split("=", 1)[0] not in replaced
            and not o.startswith("hydra.run.dir=")]
    return kept + new + [f"hydra.run.dir={run_dir}"]


def main() -> None:
    """Console entry point."""
    import hydra

    from eureka.sandbox.walls import protect_secrets_of_this_process

    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    protect_secrets_of_this_process()  # children cannot read this process's environ or memory
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = resume_args(take_api_key(sys.argv[1:]))
    except ConfigError as exc:
        print(f"eureka: error: {exc}", file=sys.stderr)
        sys.exit(2)
    args = [_task_path_override(a) for a in args]
    args = [x for a in args for x in (a if isinstance(a, list) else [a])]
    sys.argv[1:] = args
    if not any(a in _HYDRA_FLAGS or a.startswith(("--cfg", "--info", "--package")) for a in args):
        try:
            for cfg in compose_configs(args):
                preflight(cfg)
        except EurekaError as exc:
            print(f"eureka: error: {exc}", file=sys.stderr)
            sys.exit(2)
    hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")(_app)()


if __name__ == "__main__":
    main()
