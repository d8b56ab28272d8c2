"""Entry point: registers every command module on the root app."""

from __future__ import annotations

import importlib

from lmscape.cli.app import app

# Each module defines ``register(app)``. Order is the order in ``lmscape --help``.
COMMAND_MODULES = (
    "lmscape.cli.models_cmd",  # models, models show
    "lmscape.cli.fit_cmd",  # fit
    "lmscape.cli.run_cmd",  # run, chat, embed, backends
    "lmscape.cli.bench_cmd",  # bench, tasks
    "lmscape.cli.report_cmd",  # report, runs
    "lmscape.cli.decide_cmd",  # recommend, breakeven
    "lmscape.cli.route_cmd",  # route calibrate, route list, route show
    "lmscape.cli.serve_cmd",  # serve
    "lmscape.cli.keys_cmd",  # keys, usage
    "lmscape.cli.distill_cmd",  # distill, export
)

_registered = False


def build_app():
    global _registered
    if not _registered:
        for name in COMMAND_MODULES:
            importlib.import_module(name).register(app)
        _registered = True
    return app


def main() -> None:
    build_app()()


if __name__ == "__main__":
    main()
