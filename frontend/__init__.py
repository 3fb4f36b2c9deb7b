"""The coaching session page in Python: runs in the browser (Pyodide) and,
for its pure parts (SSE core, models, stores, caches), in CPython."""
