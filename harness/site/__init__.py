"""The leaderboard site (`meek report`): a results tree as a static site that opens from disk."""
