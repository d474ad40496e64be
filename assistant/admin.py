"""Admins manage chat settings, not users' chats: conversations are private (SECURITY.md line 22)."""
