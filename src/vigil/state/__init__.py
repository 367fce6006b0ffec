"""Configuration and state (log groups, retention, later alarms, topics, dashboards).

SQLite in the data directory by default, PostgreSQL when several nodes share state; one
SQLAlchemy Core code path for both (see ``db``).
"""
