"""Server-side graph rendering: a CloudWatch MetricWidget → a PNG, without a browser.

Layer: above ``query`` (it reads the series through ``vigil.query``'s widget call),
below ``notify`` and ``api`` (notifications attach graphs; GetMetricWidgetImage answers
with one). ``widget`` parses and checks the MetricWidget JSON (pure), ``draw`` turns a
parsed widget and its series into PNG bytes (matplotlib's Agg canvas, imported on first
use only, so a vigil that never draws a graph never pays its memory), ``image`` ties the
two to the store.
"""
