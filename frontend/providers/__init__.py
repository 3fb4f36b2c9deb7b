"""Providers: components that create shared state once and hand it down."""
