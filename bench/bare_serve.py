"""Serve one of the benchmark's ceilings (``bench/bare_app.py``) exactly as ``atlas-sa serve`` serves the API: the
same uvicorn configuration (``atlas_sa.cli.serving.uvicorn_config``: HTTP protocol class, event loop, headers) and the
same frozen heap, from default settings with the access log off, as the benchmark runs atlas-sa.

    .venv/bin/python bench/bare_serve.py {fastapi|starlette|raw} --port PORT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from atlas_sa.cli.serving import bind_socket, load_frozen, uvicorn_config
from atlas_sa.settings import Settings
from bench.bare_app import APPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(port=args.port, access_log=False, log_level="warning")
    config = uvicorn_config(APPS[args.app], settings)
    load_frozen(config)
    uvicorn.Server(config).run(sockets=[bind_socket(settings.host, settings.port)])


if __name__ == "__main__":
    main()
