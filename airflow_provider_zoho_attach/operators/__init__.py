"""Operators of the Zoho CRM attachments provider."""
