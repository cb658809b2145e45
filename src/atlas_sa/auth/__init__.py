"""The OAuth server (token, revoke, introspect, JWKS, metadata) and request authentication (bearer, Digest)."""
