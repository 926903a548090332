"""Airflow asset URI schemes of the provider (``zoho-crm``), registered through the provider info."""
