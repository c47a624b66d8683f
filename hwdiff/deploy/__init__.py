"""From an architecture to a deployable network: build, finetune, export."""
