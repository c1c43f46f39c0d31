"""Project tooling that is not part of the data flow (DVC lock reading, generators)."""
