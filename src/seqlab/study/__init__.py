"""``seqlab study``: every claim of the lecture notes measured by one command, with a figure, a verdict
and a report page. ``registry.STUDIES`` lists them; ``runner`` runs one; ``report`` writes the page."""
