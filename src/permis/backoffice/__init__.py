"""The back office: the préfecture agents' and supervisors' pages under /gestion/ (PRODUCT.md, capability 8)."""
