"""The UI: the front end built from ``web/`` (Vite) into ``static/``, served by vigil itself."""
