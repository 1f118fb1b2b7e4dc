"""Real exchanges through ccxt: market data, API keys in the OS keyring, history downloads."""
