"""Shipped reference data and the demo generator."""
