"""The local web app: pick a scenario, move its main parameters, run it, read the report.

    >>> from credsim.web import create_app
    >>> app = create_app("runs/web", max_concurrent=2)      # an ASGI app  # doctest: +SKIP

``credsim serve`` (added by :func:`credsim.web.cli.register`) runs it with uvicorn on
127.0.0.1. Runs go to a bounded pool of worker processes (:mod:`credsim.web.jobs`); what a
request may change, and how it is checked, is in :mod:`credsim.web.params`.

``create_app`` is imported on first use, so that ``credsim.web.cli`` (and so the ``credsim``
command) loads without the web server's packages.
"""

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from credsim.web.app import create_app

        return create_app
    raise AttributeError(f"module 'credsim.web' has no attribute {name!r}")
