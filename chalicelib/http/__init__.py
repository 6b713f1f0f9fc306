"""The HTTP face: request parsing, the error catalogue, CORS, the access log and one module per route group."""
