"""Sensors of the Zoho CRM attachments provider."""
