"""The generated world and the tiny CLIP pair trained on it (issue 6); entry point: train.py."""
