"""The portal: reps, managers and admins see their pay live in a browser (docs/portal.md)."""
