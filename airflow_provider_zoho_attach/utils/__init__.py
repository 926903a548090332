"""Utils of the Zoho CRM attachments provider."""
