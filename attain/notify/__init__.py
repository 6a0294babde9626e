"""Notifications as people read them: milestone sentences (Babel catalogues, en and fr) and preferences."""
