"""Pillars: each wires one part of vigil (its services, tasks, start and stop)."""
