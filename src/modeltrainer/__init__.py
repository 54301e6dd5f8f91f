"""Trainer: transfer learning of classifier heads from dataset versions in the model store."""
