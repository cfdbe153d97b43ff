DROP TABLE remediation_sync_state, remediation_tickets, event_history, event_progress, event_assets, event_occurrences, events;
