"""Accounts: users, roles, sign-in, tokens, CSRF, the permission table, unit scoping and the audit log
reader — one package that the web pages and the CLI call."""
