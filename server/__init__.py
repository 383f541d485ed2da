"""Process-level wiring: configuration, secrets, the application context, the app factory, logging and
start-up/shutdown."""
