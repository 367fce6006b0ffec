"""The pillars: one module each, exposing ``build(core) -> Pillar`` (see vigil.pillar)."""
