"""HTTP API: the Starlette application (``app``), auth, the ``/api/v1`` read API."""
