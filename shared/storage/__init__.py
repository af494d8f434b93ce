"""Jobs by reference: inputs read from, and results written to, files and object storage."""
