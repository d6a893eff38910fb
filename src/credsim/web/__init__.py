"""The local web app: pick a scenario, move its main parameters, run it, read the report.

    >>> from credsim.web import create_app
    >>> app = create_app("runs/web", max_concurrent=2)      # an ASGI app  # doctest: +SKIP

``credsim serve`` (added by :func:`credsim.web.cli.register`) runs it with uvicorn on
127.0.0.1. Runs go to a bounded pool of worker processes (:mod:`credsim.web.jobs`); what a
request may change, and how it is checked, is in :mod:`credsim.web.params`.
"""

from credsim.web.app import create_app

__all__ = ["create_app"]
