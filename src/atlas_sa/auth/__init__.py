"""Who is calling, and what they may do: credentials, tokens, roles."""
