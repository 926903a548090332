"""Triggers of the Zoho CRM attachments provider."""
