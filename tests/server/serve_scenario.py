"""A service process for the restart test: `python -m tests.server.serve_scenario DATA PORT`."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from mainspring.server import ServerSettings, create_app
from tests.server.scenario import TOOLS, scenario_model


def main() -> None:
    data, port = Path(sys.argv[1]), int(sys.argv[2])
    settings = ServerSettings(data_dir=data, port=port, model="test:scenario")
    app = create_app(settings, tools=TOOLS, models={"test:scenario": scenario_model()})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
