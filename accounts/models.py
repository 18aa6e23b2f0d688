"""Accounts: roles are Django groups (see accounts.roles); API keys live here too."""
