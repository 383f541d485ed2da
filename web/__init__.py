"""Web plumbing below the handlers: the lean websocket server side and its RFC 6455 codec, every use of
Tornado's private internals (version-checked), and the access log."""
