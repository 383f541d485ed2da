"""Mail: the operator's SMTP server, a persistent outbox and the messages Eddy sends."""
