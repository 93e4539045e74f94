"""Code tables of the spec as plain data (result codes, intermediate status texts, ...)."""
