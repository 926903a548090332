"""Links of the Zoho CRM attachments provider."""
