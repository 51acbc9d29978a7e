"""Capacity planning: seasonality detection, forecasts and time-to-threshold."""
