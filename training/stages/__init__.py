"""Pipeline stages: teacher → pseudo_label → student → metric → evaluate → export (and pipeline)."""
