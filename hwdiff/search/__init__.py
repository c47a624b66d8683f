"""Search: conditions -> samples -> scores -> ranking."""
