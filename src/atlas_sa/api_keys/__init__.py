"""Programmatic API keys: a public key and a private key with org roles, used with HTTP Digest."""
