"""Who is signing in: FranceConnect and local accounts for holders, and the link from an account to its licence."""
