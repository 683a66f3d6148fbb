"""Reports over run directories: learning curves with 95% CI bands, final-score tables (IQM and
mean, via rliable) and the same beside published numbers.

``python -m sacflow.report RUN_DIRS...`` (or ``sacflow-report``); see ``cli.py``.
"""
