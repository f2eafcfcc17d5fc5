"""slackmq: Slack pins as locks, so several bots can share work."""
