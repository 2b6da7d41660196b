"""compact-proofs checker: the small trusted core.

It reads a certificate, recomputes the proof with exact integers, rationals and
rigorous `arb` enclosures, and accepts only claims that follow. It never imports
torch or the generator.
"""

__version__ = "0.1.0"
