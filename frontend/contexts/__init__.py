"""Contexts, kept apart from the providers and hooks that use them, so no
module imports its own importer (the original needed
`sse-connection-context.tsx` to break a circular import)."""
