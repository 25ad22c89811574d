"""Notices and documents: delivering the letters the law makes due, and the signed PDFs anyone can verify."""
