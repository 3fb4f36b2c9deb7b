"""PyScript entry point of the page (loaded by index.html)."""

from frontend.app import main

main()
