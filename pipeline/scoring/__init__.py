"""Scoring: the rule baseline, reason codes and the daily scoring stage."""
