"""Widgets shared by the screens: tables, the curve, pictures, the confusion matrix."""
