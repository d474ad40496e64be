"""Design studio models arrive with the studio issue; the app is registered so its migrations have a home."""
