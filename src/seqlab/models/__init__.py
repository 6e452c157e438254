"""Model architectures, one readable file each. Nothing here knows about files, CLIs or tasks."""
