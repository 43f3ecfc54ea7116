"""What is inside a trained network: its kept parameters (weights.py), the
network rebuilt from them (trained.py), one digit through it layer by layer
with probabilities and saliency (probe.py), a hand-written image made into an
MNIST digit (image.py), and the long-lived helper the lab asks (helper.py).

torch is imported only by trained.py and probe.py (and lazily), so the store
and the lab can read what they need from here without it."""
