"""The region operator's gateway: HTTPS (FastAPI) over the coordinator's events and its ledger, read-only.

``view`` projects the coordinator's events into what the region's operator may see (venue ids, sessions,
convergence, commits; never an agent's private data), ``ledger_view`` reads the ledger for the audit view,
``app`` is the FastAPI shell with the console (``console``), ``server`` serves it over TLS on a thread.
Tokens are the agents' scheme (``registry.gateway.tokens``) with the coordinator's own secret. This
package is the only part of ``coordinator`` that imports the web stack (an import-linter contract says so).
"""
