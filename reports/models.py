"""Reports read the score history of the leaderboard app; they own no tables yet."""
