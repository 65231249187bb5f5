"""Backstop layers (design §6): each pays what its rules allow and passes on the rest."""
