"""The client side of vigil for applications: structured logging (``vigil.sdk.logging``)."""
