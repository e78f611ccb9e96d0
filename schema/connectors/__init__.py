"""GraphQL of connectors: ``connectors``, ``syncRuns``, ``runSync``, and what a run set aside
(quarantined rows, reconciliation findings) for the owning agency."""
