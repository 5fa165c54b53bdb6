"""The socket loops: what one visitor, agent or supervisor socket does."""
