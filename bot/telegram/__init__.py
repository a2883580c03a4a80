"""The Telegram front-end: the same commands and tickets as the console, on a phone."""
