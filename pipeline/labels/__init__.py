"""Labels for training and evaluation: incident reports linked to vessels (and, later,
analyst dispositions), every row with its provenance."""
