"""``modelpilot demo``: a realistic mixed workload through the proxy with the official SDK, and
the savings it earned as the control plane metered them."""
