"""What the agent's and the coordinator's operator gateways share.

``tokens`` (JWT scopes, issue and verify), ``ratelimit`` (a token bucket per actor) and ``fanout`` (events
pushed to live subscribers without ever blocking the emitter) are plain Python, without the web stack.
``web`` (bearer-token dependency, scope check, the ``/ws/status`` and ``/ws/events`` streams, the console's
frame and shared ``static`` files) and ``server`` (TLS uvicorn on a daemon thread) are the web shell, the
only modules here that import FastAPI or uvicorn (an import-linter contract says so). They live here, below
both ``agents`` and ``coordinator``, because the two may not import each other; each side keeps its own
routes and console page.
"""
