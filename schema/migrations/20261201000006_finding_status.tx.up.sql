-- Findings keep what the vendor says of them (issue: real vendor output): the vendor's status
-- and detection type, and a normalised status. Only 'open' findings are active:
--   open            the vulnerability is present (Qualys New/Active/Re-Opened, Nexpose vulnerable)
--   risk_accepted   under an exception (Nexpose *-with-exception-applied, Qualys IS_IGNORED/IS_DISABLED)
--   not_vulnerable  checked and absent (Nexpose invulnerable, no-results, not-vulnerable)
--   mitigated       missing from the latest scan of its record (Qualys Fixed is never imported,
--                   so a fixed detection ends here too)
-- times_found, like last_seen, is not content: it changes with every scan.
ALTER TABLE findings
    ADD COLUMN status           text NOT NULL DEFAULT 'open',
    ADD COLUMN vendor_status    text NOT NULL DEFAULT '',
    ADD COLUMN detection_type   text NOT NULL DEFAULT '',
    ADD COLUMN unique_vuln_id   text NOT NULL DEFAULT '',
    ADD COLUMN asset_vendor_id  text NOT NULL DEFAULT '',
    ADD COLUMN qds              integer,
    ADD COLUMN times_found      integer,
    ADD COLUMN last_fixed       timestamptz,
    ADD COLUMN description_html text NOT NULL DEFAULT '',
    ADD COLUMN solution_html    text NOT NULL DEFAULT '',
    ADD COLUMN evidence_html    text NOT NULL DEFAULT '';

UPDATE findings SET status = 'mitigated' WHERE NOT active;

ALTER TABLE findings
    ADD CONSTRAINT findings_status_check CHECK (status IN ('open', 'risk_accepted', 'not_vulnerable', 'mitigated')),
    ADD CONSTRAINT findings_active_status_check CHECK (active = (status = 'open')),
    ADD CONSTRAINT findings_detection_type_check CHECK (detection_type IN ('', 'confirmed', 'potential', 'info'));

-- excepted counts the findings of an import that the vendor reported under an exception or
-- as not vulnerable (kept, never active).
ALTER TABLE test_imports ADD COLUMN excepted integer NOT NULL DEFAULT 0;
