"""The kernel the processor Lambda and the flows share: contract, weeks, correlation, item codec."""
