"""What a caller is and what its roles allow: the principal and the Atlas role hierarchy. Below every feature."""
