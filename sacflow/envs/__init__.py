"""Environment factories, one module per suite."""
