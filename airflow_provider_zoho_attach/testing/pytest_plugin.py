"""pytest plugin (entry point ``pytest11``): the ``zoho_emulator`` fixture."""
