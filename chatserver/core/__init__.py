"""Pure rules and types: frames, errors, settings, business hours, report maths. No I/O."""
