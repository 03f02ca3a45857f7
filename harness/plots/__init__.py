"""Figures from result DataFrames and the frontier table; each saved as PNG and SVG under plots/."""
