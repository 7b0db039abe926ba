"""Billing-as-code for Trend Micro products in ConnectWise Manage."""

__version__ = "0.1.0"
