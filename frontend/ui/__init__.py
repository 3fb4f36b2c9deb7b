"""UI components of the page (browser only: they import `js`)."""
