"""The agent's operator gateway: HTTPS (FastAPI, its OpenAPI included) over ``agents.controls``.

``tokens`` (JWT issue and verify) and ``ratelimit`` (a token bucket per actor) are plain Python, kept in
``registry.gateway`` because the coordinator's gateway uses them too (re-exported here); ``app`` builds the
FastAPI application, ``console`` serves the operator's web console (static files), ``server`` serves it all
over TLS with uvicorn on a thread of the agent's process. The web shell both gateways share (token checks,
live streams, the console's frame and common scripts, the TLS server) is ``registry.gateway.web`` and
``registry.gateway.server``. This package is the only part of ``agents`` that
imports the web stack (an import-linter contract says so). Nothing is imported here: ``tokens`` stays light.
"""
