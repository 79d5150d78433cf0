"""The words of the emulator's documents, checked with clear errors and described as JSON
Schema: node trees with positions (:mod:`.nodes`), a reader of values (:mod:`.reader`) and
the tables both are driven by (:mod:`.kinds`).  Scenario files and fault words use it."""
