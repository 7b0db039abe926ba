"""Contract tests: every `Target` implementation keeps the same promises."""
