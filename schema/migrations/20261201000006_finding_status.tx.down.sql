ALTER TABLE test_imports DROP COLUMN excepted;
ALTER TABLE findings
    DROP CONSTRAINT findings_detection_type_check,
    DROP CONSTRAINT findings_active_status_check,
    DROP CONSTRAINT findings_status_check,
    DROP COLUMN evidence_html, DROP COLUMN solution_html, DROP COLUMN description_html, DROP COLUMN last_fixed,
    DROP COLUMN times_found, DROP COLUMN qds, DROP COLUMN asset_vendor_id, DROP COLUMN unique_vuln_id,
    DROP COLUMN detection_type, DROP COLUMN vendor_status, DROP COLUMN status;
