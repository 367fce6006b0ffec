"""Client-side helpers for applications that send telemetry to vigil (structured logging:
``vigil.sdk.logging``)."""
