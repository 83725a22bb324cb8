"""The Hydra callback of ``conf/config.yaml``: at the end of a multirun, one comparison report across its runs
(``eureka-report <sweep dir>``: ``comparison.html``, ``sweep.json``, ``sweep.md``; see ``eureka.report.sweep``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from eureka.report.cli import main


class SweepReport(Callback):
    """Hydra callback: at the end of a multirun, one comparison report across its runs."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:  # noqa: ARG002
        try:
            sweep_dir = Path(str(config.hydra.sweep.dir))
            if sweep_dir.is_dir():
                main([str(sweep_dir), "-o", str(sweep_dir / "comparison.html"), "--no-tensorboard"])
        except Exception as exc:  # noqa: BLE001 - a report never fails the sweep
            print(f"eureka: no sweep report: {type(exc).__name__}: {exc}")


__all__ = ["SweepReport"]
