"""Log reads.

* ``search`` — ``/api/v1/logs``: groups, time range, text and severity, newest first with a
  keyset cursor; the log groups seen;
* ``events`` — GetLogEvents and FilterLogEvents as the CloudWatch Logs API pages them;
* ``severity`` — the one SQL expression for the level a user means.

Logs Insights, the query language, lives beside this package in ``query/insights``.
"""
