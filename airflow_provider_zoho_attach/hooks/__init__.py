"""Hooks of the Zoho CRM attachments provider."""
