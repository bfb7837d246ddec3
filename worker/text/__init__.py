"""Text as a reader sees it: the normaliser text models read, with its offset map."""
