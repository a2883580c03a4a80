"""Pre-trade checks and the daily-loss halt."""
