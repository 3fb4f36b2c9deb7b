"""The original's hooks, in Python (`frontend.reactive` gives them React's semantics)."""
