"""Attain's own OpenID Connect issuer for the embedded profile (discovery, JWKS, token endpoint)."""
