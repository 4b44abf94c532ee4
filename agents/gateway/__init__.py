"""The agent's operator gateway: HTTPS (FastAPI, its OpenAPI included) over ``agents.controls``.

``tokens`` (JWT issue and verify) and ``ratelimit`` (a token bucket per actor) are plain Python, usable by
the CLI without the web stack; ``app`` builds the FastAPI application, ``server`` serves it over TLS with
uvicorn on a thread of the agent's process. This package is the only part of ``agents`` that imports the
web stack (an import-linter contract says so). Nothing is imported here, so ``tokens`` stays light.
"""
