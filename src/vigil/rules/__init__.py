"""Rules evaluated over time: scheduled queries (and, from other pillars, alarms)."""
