"""Parts of the backtest tab (``widgets.backtest_tab``).

``run_result`` and ``datasets`` are Qt-free on purpose: the dataset inspector runs them in a
spawned worker process, which must not pay for (or depend on) a Qt import.
"""
