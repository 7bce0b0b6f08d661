"""The generic training loop and what it needs: statistics, moving averages."""
