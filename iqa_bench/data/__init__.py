"""Datasets, degradations, MATLAB-style resizing and colour conversion."""
