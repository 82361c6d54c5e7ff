"""normbench.bench: how fast the norm layers run, against what the memory allows.

A norm layer is element-wise or nearly so: its time should be the time to read and write
its tensors. The layer benchmark (`python -m normbench.bench layer`) times LayerNorm,
RMSNorm and DyT (eager, compiled, fused) forward and forward+backward, interleaved in one
process, and sets each time beside a measured copy of the same tensor (the memory
roofline). The step benchmark (`step`) sets normbench's training loop beside a bare PyTorch
loop, and norm beside norm; the LLaMA benchmark (`llama`) is the paper's efficiency table
(claim C10). timing.py is the shared clock.
"""
