"""CloudWatch metric math: ``lexer`` → ``parser`` → ``ast`` (with a printer) → ``evaluator``.

The evaluator works on aligned series (``series.Series``: a period grid with NaN for
missing values) and looks functions up in a ``functions.FunctionTable``, so new functions
(e.g. ANOMALY_DETECTION_BAND from the alarms pillar) register there without touching the
evaluator.
"""

from vigil.query.metricmath.ast import Node, to_text
from vigil.query.metricmath.errors import MathError, MathSyntaxError
from vigil.query.metricmath.parser import parse

__all__ = ["MathError", "MathSyntaxError", "Node", "parse", "to_text"]
