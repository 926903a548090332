"""Testing tools: the Zoho CRM emulator and its pytest fixture."""
