"""Writers for the files editors keep under `data/` (and the test stories): they change only what they add,
keep the files' formatting byte for byte, never add an example or step twice, and validate what they write."""
