"""Client-side helpers for applications that send to vigil."""
