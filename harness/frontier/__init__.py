"""Meek models vs the frontier: published scores with release dates (Epoch AI data, CC BY 4.0) and the lag of what fits at home."""
