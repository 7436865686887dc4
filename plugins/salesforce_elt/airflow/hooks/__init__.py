"""Salesforce hooks: REST (``SalesforceApiHook``) and Bulk API 2.0 (``SalesforceBulk2Hook``)."""
