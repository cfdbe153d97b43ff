package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-io/tributary/scanner"
)

var stageHostCols = []string{"vendor_id", "ip", "dns", "netbios", "os", "name", "address", "groups", "relevance", "last_scan", "host_hash",
	"asset_type", "description", "responsible", "criticality"}

// AddHost stages one scanned host (an asset of the vendor).
func (st *Staging) AddHost(ctx context.Context, h scanner.Host) error {
	rel := 3
	if st.Relevance != nil {
		rel = st.Relevance(&h)
	}
	groups := h.Groups
	if groups == nil {
		groups = []string{}
	}
	name, addr := truncate(h.Name(), 400), truncate(h.Address(), 100)
	hash := contentHash(name, addr, h.IP, h.DNS, h.NetBIOS, h.OS, fmt.Sprint(rel))
	st.hosts = append(st.hosts, []any{h.VendorID, h.IP, h.DNS, h.NetBIOS, h.OS, name, addr, groups, rel, nullTime(h.LastScan), hash, nil, nil, nil, nil})
	st.Hosts++
	if len(st.hosts) >= stageBatch {
		return st.flushHosts(ctx)
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

func (st *Staging) flushHosts(ctx context.Context) error {
	return st.copyBuffered(ctx, "stage_hosts", stageHostCols, &st.hosts)
}

// AssetScope says which shared assets a scanner's hosts are: identity_key is Prefix followed by
// the vendor's host ID (see the scanner_imports migration), Source is the asset's source.
type AssetScope struct {
	// Prefix is "qualys:<API server>:" or "nexpose:<console>:".
	Prefix string
	// Source is "qualys" or "nexpose".
	Source string
	// SourceType and SourceID name the asset_sources link of the task or connector: "qualys",
	// "nexpose", "xml" (tasks) or "connector".
	SourceType string
	SourceID   uuid.UUID
	// Match makes detection hosts find any existing asset by host address or IP before
	// their own identity key (XML imports): "", MatchHostAddress or MatchIP.
	Match string
	// SkipUnknown creates no asset for a host without one: its detections are skipped.
	SkipUnknown bool
}

// How detection hosts find their assets (AssetScope.Match).
const (
	MatchHostAddress = "host_address"
	MatchIP          = "ip"
)

// AssetDefaults are the properties an import gives the assets it creates.
type AssetDefaults struct {
	// Type is the asset type (default "technology").
	Type string
	// Responsible is the default responsible person.
	Responsible string
	// Criticality is 0-100, nil for none.
	Criticality *int
}

// linkHostAssets creates, from the staged hosts, the assets that do not exist yet (an
// occurrence or finding whose asset no asset import created yet), links them to the source,
// and fills stage_host_assets (vendor_id -> asset_id) for the statements that follow. With
// sc.Match, hosts first find any existing asset by host address or IP; with sc.SkipUnknown,
// hosts without an asset get none (their detections are skipped). It returns how many
// assets it created.
func linkHostAssets(ctx context.Context, tx pgx.Tx, sc AssetScope, d AssetDefaults, now time.Time) (int64, error) {
	if _, err := tx.Exec(ctx, "ANALYZE stage_hosts"); err != nil {
		return 0, err
	}
	var match string
	switch sc.Match {
	case MatchHostAddress:
		match = "a.host_address <> '' AND lower(a.host_address) = lower(h.address)"
	case MatchIP:
		match = "h.ip <> '' AND a.ip_addresses @> ARRAY[h.ip]"
	default:
		match = "false"
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE stage_host_assets ON COMMIT DROP AS
		SELECT DISTINCT ON (h.vendor_id) h.vendor_id, a.id AS asset_id FROM stage_hosts h JOIN assets a ON `+match+`
		ORDER BY h.vendor_id, (a.status = 'active') DESC, a.updated_at DESC, a.id`); err != nil {
		return 0, fmt.Errorf("match hosts to assets: %w", err)
	}
	typ := d.Type
	if typ == "" {
		typ = "technology"
	}
	var created int64
	if !sc.SkipUnknown {
		tag, err := tx.Exec(ctx, `
		INSERT INTO assets (identity_key, name, host_address, dns, netbios, fqdn, hostname, ip_addresses, os, source, vendor_id,
			asset_type, responsible, criticality, relevance, content_hash, first_seen_at, last_seen_at, created_at, updated_at)
		SELECT DISTINCT ON (h.vendor_id) $1 || h.vendor_id, h.name, h.address, h.dns, h.netbios, h.dns, h.netbios,
			CASE WHEN h.ip = '' THEN '{}'::text[] ELSE ARRAY[h.ip] END, h.os, $2, h.vendor_id, COALESCE(h.asset_type, $3),
			COALESCE(h.responsible, $4), COALESCE(h.criticality, $5), h.relevance, h.host_hash, $6, $6, $6, $6
		FROM stage_hosts h WHERE NOT EXISTS (SELECT 1 FROM stage_host_assets m WHERE m.vendor_id = h.vendor_id) ORDER BY h.vendor_id
		ON CONFLICT (identity_key) DO NOTHING`, sc.Prefix, sc.Source, typ, d.Responsible, d.Criticality, now)
		if err != nil {
			return 0, fmt.Errorf("create assets of new hosts: %w", err)
		}
		created = tag.RowsAffected()
	}
	if _, err := tx.Exec(ctx, `INSERT INTO stage_host_assets (vendor_id, asset_id)
		SELECT DISTINCT h.vendor_id, a.id FROM stage_hosts h JOIN assets a ON a.identity_key = $1 || h.vendor_id
		WHERE NOT EXISTS (SELECT 1 FROM stage_host_assets m WHERE m.vendor_id = h.vendor_id)`, sc.Prefix); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "ANALYZE stage_host_assets"); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO asset_sources (asset_id, source_type, source_id, external_id, status, last_seen_at)
		SELECT asset_id, $1, $2, vendor_id, 'active', $3 FROM stage_host_assets
		ON CONFLICT (source_type, source_id, external_id) DO UPDATE SET asset_id = EXCLUDED.asset_id, status = 'active', last_seen_at = EXCLUDED.last_seen_at
		WHERE asset_sources.status <> 'active' OR asset_sources.asset_id <> EXCLUDED.asset_id`, sc.SourceType, sc.SourceID, now); err != nil {
		return 0, fmt.Errorf("link assets to their source: %w", err)
	}
	return created, nil
}

// countUpserts reads the rows of an upsert RETURNING (xmax = 0): true for an inserted row,
// false for an updated one.
func countUpserts(rows pgx.Rows) (created, updated int64, err error) {
	defer rows.Close()
	for rows.Next() {
		var ins bool
		if err := rows.Scan(&ins); err != nil {
			return 0, 0, err
		}
		if ins {
			created++
		} else {
			updated++
		}
	}
	return created, updated, rows.Err()
}

// ErrRemovalGuard is returned when an import would remove too much; nothing was changed.
var ErrRemovalGuard = errors.New("removal guard")

// scannerImportDone returns the counts of the import that run already applied for task, if any.
func scannerImportDone(ctx context.Context, tx pgx.Tx, runID, taskID uuid.UUID) (map[string]int64, bool, error) {
	var raw []byte
	err := tx.QueryRow(ctx, "SELECT counts FROM scanner_imports WHERE run_id = $1 AND task_id = $2", runID, taskID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	counts := map[string]int64{}
	return counts, true, json.Unmarshal(raw, &counts)
}

func (st *Staging) recordImport(ctx context.Context, tx pgx.Tx, runID, taskID uuid.UUID, counts map[string]int64, now time.Time) error {
	if st.File != nil {
		counts["records"], counts["failed"] = st.File.Records, st.File.Failed
	}
	raw, err := json.Marshal(counts)
	if err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, "INSERT INTO scanner_imports (run_id, task_id, counts, applied_at) VALUES ($1, $2, $3::jsonb, $4)", runID, taskID, string(raw), now); err != nil {
		return err
	}
	if st.File == nil {
		return nil
	}
	return recordXMLImport(ctx, tx, runID, taskID, st.File, now)
}

// begin opens the apply's transaction, serialised per task by an advisory lock, and returns
// the counts of an import this run already applied (replayed true).
func (st *Staging) begin(ctx context.Context, lockKey string, runID, taskID uuid.UUID) (pgx.Tx, map[string]int64, bool, error) {
	if err := st.Flush(ctx); err != nil {
		return nil, nil, false, err
	}
	tx, err := st.conn.Begin(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1 || $2::text))", lockKey, taskID); err != nil {
		_ = tx.Rollback(ctx)
		return nil, nil, false, err
	}
	counts, done, err := scannerImportDone(ctx, tx, runID, taskID)
	if err != nil || done {
		_ = tx.Rollback(ctx)
		return nil, counts, done, err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '64MB'"); err != nil {
		_ = tx.Rollback(ctx)
		return nil, nil, false, err
	}
	return tx, nil, false, nil
}

// AssetApplyInput names an asset import's apply.
type AssetApplyInput struct {
	RunID  uuid.UUID
	TaskID uuid.UUID
	Scope  AssetScope
	// Defaults fill the properties of new assets.
	Defaults AssetDefaults
	// Overwrite lets the scanner's values replace properties an admin edited.
	Overwrite bool
	// MaxRemovalPercent refuses a sweep that would remove more of the task's active assets.
	MaxRemovalPercent int
	// Skipped is how many vendor items the client skipped, for the counts.
	Skipped int64
	Now     time.Time
}

// ApplyAssets merges the staged hosts into the shared assets in one transaction: new hosts
// become assets, changed ones are updated (keeping properties an admin edited unless
// Overwrite), and the task's assets missing from the complete listing lose this source
// (marked removed, never deleted; an asset without any source left is retired). An empty
// listing while the task has assets, or a sweep over MaxRemovalPercent, fails with
// ErrRemovalGuard and changes nothing. A run that already applied returns the same counts
// with replayed true.
func (st *Staging) ApplyAssets(ctx context.Context, in AssetApplyInput) (counts map[string]int64, replayed bool, err error) {
	tx, counts, replayed, err := st.begin(ctx, "assets:", in.RunID, in.TaskID)
	if err != nil || replayed {
		return counts, replayed, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	counts = map[string]int64{"created": 0, "updated": 0, "unchanged": 0, "removed": 0, "skipped": in.Skipped}
	// The task's hosts missing from this listing, materialised once: EXCEPT is a hash set
	// operation, where an anti-join planned on the guesses of a fresh table can be quadratic.
	if _, err = tx.Exec(ctx, `CREATE TEMP TABLE stage_gone ON COMMIT DROP AS
		SELECT external_id FROM asset_sources WHERE source_type = $1 AND source_id = $2 AND status = 'active'
		EXCEPT SELECT vendor_id FROM stage_hosts`, in.Scope.SourceType, in.Scope.SourceID); err != nil {
		return nil, false, err
	}
	var staged, active, gone int64
	if err = tx.QueryRow(ctx, `SELECT (SELECT count(DISTINCT vendor_id) FROM stage_hosts),
		(SELECT count(*) FROM asset_sources WHERE source_type = $1 AND source_id = $2 AND status = 'active'),
		(SELECT count(*) FROM stage_gone)`,
		in.Scope.SourceType, in.Scope.SourceID).Scan(&staged, &active, &gone); err != nil {
		return nil, false, err
	}
	if staged == 0 && active > 0 {
		return nil, false, fmt.Errorf("%w: the scanner listed no hosts, but %d assets are imported by this task: refusing to remove them all "+
			"(check the filters; nothing was changed)", ErrRemovalGuard, active)
	}
	if active > 0 && gone*100 > active*int64(in.MaxRemovalPercent) {
		return nil, false, fmt.Errorf("%w: the import would remove %d of %d assets (%.1f%%), more than max_removal_percent (%d%%): refusing "+
			"(check the filters, or raise the limit for a planned clean-up; nothing was changed)", ErrRemovalGuard, gone, active,
			float64(gone)*100/float64(active), in.MaxRemovalPercent)
	}
	// Every field an admin may edit keeps its value when it is in edited_fields, unless the task
	// lets the scanner overwrite local edits.
	keep := func(col string) string {
		return fmt.Sprintf("CASE WHEN NOT $7 AND '%[1]s' = ANY(a.edited_fields) THEN a.%[1]s ELSE EXCLUDED.%[1]s END", col)
	}
	typ := in.Defaults.Type
	if typ == "" {
		typ = "technology"
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO assets AS a (identity_key, name, host_address, dns, netbios, fqdn, hostname, ip_addresses, os, source, vendor_id,
			asset_type, responsible, criticality, description, relevance, content_hash, status, first_seen_at, last_seen_at, created_at, updated_at)
		SELECT DISTINCT ON (h.vendor_id) $1 || h.vendor_id, h.name, h.address, h.dns, h.netbios, h.dns, h.netbios,
			CASE WHEN h.ip = '' THEN '{}'::text[] ELSE ARRAY[h.ip] END, h.os, $2, h.vendor_id, COALESCE(h.asset_type, $3),
			COALESCE(h.responsible, $4), COALESCE(h.criticality, $5), COALESCE(h.description, ''), h.relevance, h.host_hash,
			'active', $6, COALESCE(h.last_scan, $6), $6, $6
		FROM stage_hosts h ORDER BY h.vendor_id, h.last_scan DESC NULLS LAST
		ON CONFLICT (identity_key) DO UPDATE SET
			name = `+keep("name")+`, host_address = `+keep("host_address")+`, relevance = `+keep("relevance")+`,
			dns = EXCLUDED.dns, netbios = EXCLUDED.netbios, fqdn = EXCLUDED.fqdn, hostname = EXCLUDED.hostname,
			ip_addresses = EXCLUDED.ip_addresses, os = EXCLUDED.os, content_hash = EXCLUDED.content_hash, status = 'active',
			last_seen_at = EXCLUDED.last_seen_at, updated_at = EXCLUDED.updated_at,
			edited_fields = CASE WHEN $7 THEN '{}' ELSE a.edited_fields END
		WHERE a.content_hash <> EXCLUDED.content_hash OR a.status <> 'active'
		RETURNING (xmax = 0) AS created`,
		in.Scope.Prefix, in.Scope.Source, typ, in.Defaults.Responsible, in.Defaults.Criticality, in.Now, in.Overwrite)
	if err != nil {
		return nil, false, fmt.Errorf("upsert assets: %w", err)
	}
	if counts["created"], counts["updated"], err = countUpserts(rows); err != nil {
		return nil, false, fmt.Errorf("upsert assets: %w", err)
	}
	counts["unchanged"] = staged - counts["created"] - counts["updated"]
	// Properties only some imports give (XML files): set on the rows just updated.
	if _, err = tx.Exec(ctx, `UPDATE assets a SET
			asset_type = CASE WHEN h.asset_type IS NULL OR (NOT $3 AND 'asset_type' = ANY(a.edited_fields)) THEN a.asset_type ELSE h.asset_type END,
			description = CASE WHEN h.description IS NULL OR (NOT $3 AND 'description' = ANY(a.edited_fields)) THEN a.description ELSE h.description END,
			responsible = CASE WHEN h.responsible IS NULL OR (NOT $3 AND 'responsible' = ANY(a.edited_fields)) THEN a.responsible ELSE h.responsible END,
			criticality = CASE WHEN h.criticality IS NULL OR (NOT $3 AND 'criticality' = ANY(a.edited_fields)) THEN a.criticality ELSE h.criticality END
		FROM stage_hosts h WHERE a.identity_key = $1 || h.vendor_id AND a.updated_at = $2 AND a.created_at <> $2
			AND (h.asset_type IS NOT NULL OR h.description IS NOT NULL OR h.responsible IS NOT NULL OR h.criticality IS NOT NULL)`,
		in.Scope.Prefix, in.Now, in.Overwrite); err != nil {
		return nil, false, fmt.Errorf("update asset properties: %w", err)
	}
	if _, err = linkHostAssets(ctx, tx, in.Scope, in.Defaults, in.Now); err != nil {
		return nil, false, err
	}
	tag, err := tx.Exec(ctx, `UPDATE asset_sources s SET status = 'removed', last_seen_at = $3
		FROM stage_gone g WHERE s.source_type = $1 AND s.source_id = $2 AND s.external_id = g.external_id`, in.Scope.SourceType, in.Scope.SourceID, in.Now)
	if err != nil {
		return nil, false, fmt.Errorf("mark missing assets: %w", err)
	}
	counts["removed"] = tag.RowsAffected()
	if _, err = tx.Exec(ctx, `UPDATE assets a SET status = 'retired', updated_at = $3
		WHERE a.status = 'active' AND EXISTS (SELECT 1 FROM asset_sources s WHERE s.asset_id = a.id AND s.source_type = $1 AND s.source_id = $2 AND s.status = 'removed')
			AND NOT EXISTS (SELECT 1 FROM asset_sources s WHERE s.asset_id = a.id AND s.status = 'active')`,
		in.Scope.SourceType, in.Scope.SourceID, in.Now); err != nil {
		return nil, false, fmt.Errorf("retire assets: %w", err)
	}
	if err = st.recordImport(ctx, tx, in.RunID, in.TaskID, counts, in.Now); err != nil {
		return nil, false, err
	}
	return counts, false, tx.Commit(ctx)
}

// OccurrenceApplyInput names a vulnerability import's apply.
type OccurrenceApplyInput struct {
	RunID  uuid.UUID
	TaskID uuid.UUID
	Scope  AssetScope
	// Defaults fill the properties of assets created from detection host data.
	Defaults AssetDefaults
	// CatalogScope is the scanner server the catalogue rows belong to.
	CatalogScope string
	// ExpireAfterDays moves occurrences closed for longer to expired; 0 never expires.
	ExpireAfterDays int
	// DeleteAfterDays deletes occurrences expired for longer (their history stays); 0 never deletes.
	DeleteAfterDays int
	// Skipped is how many vendor items the client skipped, for the counts.
	Skipped   int64
	StartedAt time.Time
	Now       time.Time
}

// ApplyOccurrences merges the staged definitions into the vulnerability catalogue and the
// staged detections into the task's occurrences, in one transaction: assets missing for a
// detection's host are created from its host data; new occurrences are created, changed ones
// updated, missing ones closed, returning ones reopened; occurrences closed for longer than
// ExpireAfterDays expire and those expired for longer than DeleteAfterDays are deleted. Every
// change is written to occurrence_history. A run that already applied returns the same counts
// with replayed true.
func (st *Staging) ApplyOccurrences(ctx context.Context, in OccurrenceApplyInput) (counts map[string]int64, replayed bool, err error) {
	tx, counts, replayed, err := st.begin(ctx, "occurrences:", in.RunID, in.TaskID)
	if err != nil || replayed {
		return counts, replayed, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	var missing string
	if err = tx.QueryRow(ctx, "SELECT COALESCE(string_agg(vendor_id, ', '), '') FROM ("+missingDefinitionsSQL+" ORDER BY 1 LIMIT 5) m").Scan(&missing); err != nil {
		return nil, false, err
	}
	if missing != "" {
		return nil, false, fmt.Errorf("%w: %s", ErrMissingDefinition, missing)
	}
	counts = map[string]int64{"skipped": in.Skipped}
	for _, k := range []string{"created", "updated", "unchanged", "closed", "reopened", "expired", "deleted", "assets_created", "catalog_created", "catalog_updated"} {
		counts[k] = 0
	}
	// The catalogue: one row per vendor vulnerability; changed definitions are updated.
	rows, err := tx.Query(ctx, `
		INSERT INTO vulnerabilities AS v (source, scope, vendor_id, title, level, severity, vendor_severity, cves, description, solution,
			description_html, solution_html, content_hash, created_at, updated_at)
		SELECT $1, $2, x.vendor_id, x.title,
			CASE x.severity WHEN 'Critical' THEN 5 WHEN 'High' THEN 4 WHEN 'Medium' THEN 3 WHEN 'Low' THEN 2 WHEN 'Info' THEN 1 END,
			x.severity, x.vendor_severity, x.cves, x.description, x.solution, x.description_html, x.solution_html, x.def_hash, $3, $3
		FROM stage_definitions x
		ON CONFLICT (source, scope, vendor_id) DO UPDATE SET title = EXCLUDED.title, level = EXCLUDED.level, severity = EXCLUDED.severity,
			vendor_severity = EXCLUDED.vendor_severity, cves = EXCLUDED.cves, description = EXCLUDED.description, solution = EXCLUDED.solution,
			description_html = EXCLUDED.description_html, solution_html = EXCLUDED.solution_html, content_hash = EXCLUDED.content_hash,
			updated_at = EXCLUDED.updated_at
		WHERE v.content_hash <> EXCLUDED.content_hash
		RETURNING (xmax = 0)`, in.Scope.Source, in.CatalogScope, in.Now)
	if err != nil {
		return nil, false, fmt.Errorf("update the vulnerability catalogue: %w", err)
	}
	if counts["catalog_created"], counts["catalog_updated"], err = countUpserts(rows); err != nil {
		return nil, false, fmt.Errorf("update the vulnerability catalogue: %w", err)
	}
	if counts["assets_created"], err = linkHostAssets(ctx, tx, in.Scope, in.Defaults, in.Now); err != nil {
		return nil, false, err
	}
	if in.Scope.SkipUnknown {
		// Detections of hosts without an asset are skipped, each with the reason.
		by := in.Scope.Match
		if by == "" {
			by = "source ID"
		}
		tag, err := tx.Exec(ctx, `WITH gone AS (
			DELETE FROM stage_detections s WHERE NOT EXISTS (SELECT 1 FROM stage_host_assets ha WHERE ha.vendor_id = s.asset_vendor_id)
			RETURNING record_no, record_line, asset_vendor_id)
			INSERT INTO stage_issues (number, line, outcome, field, message)
			SELECT COALESCE(record_no, 0), COALESCE(record_line, 0), 'skipped', 'host',
				format('no asset has the %s %s (the task skips occurrences of unknown hosts)', $1::text, asset_vendor_id) FROM gone`, by)
		if err != nil {
			return nil, false, fmt.Errorf("skip detections of unknown hosts: %w", err)
		}
		counts["skipped"] += tag.RowsAffected()
	}
	steps := []struct {
		sql  string
		args []any
	}{
		{sql: "SET LOCAL enable_mergejoin = off"},
		{sql: "ANALYZE stage_detections (identity, vendor_id)"},
		{sql: "ANALYZE stage_definitions (vendor_id)"},
		// Closed and expired occurrences are the inactive ones: they reopen when found again.
		{sql: diffSQL(`SELECT id, identity, status NOT IN ('closed', 'expired') AS active, status, content_hash,
			first_found AS first_seen, last_found AS last_seen, times_found FROM vulnerability_occurrences WHERE task_id = $1`, "$2"),
			args: []any{in.TaskID, in.StartedAt}},
		{sql: "ANALYZE stage_diff (finding_id, action, src)"},
		{sql: `UPDATE vulnerability_occurrences o SET status = s.status, detection_type = s.detection_type, vendor_status = s.vendor_status,
			evidence = s.evidence, port = s.port, protocol = s.protocol, probability = ` + probabilitySQL + `,
			asset_id = ha.asset_id, vulnerability_id = v.id, first_found = d.first_seen, last_found = d.last_seen, times_found = d.times_found,
			content_hash = d.content_hash, updated_at = $1, closed_at = NULL, expired_at = NULL
			FROM stage_diff d JOIN stage_detections s ON s.ctid = d.src
				JOIN stage_host_assets ha ON ha.vendor_id = s.asset_vendor_id
				JOIN vulnerabilities v ON v.source = $2 AND v.scope = $3 AND v.vendor_id = s.vendor_id
			WHERE o.id = d.finding_id AND d.action IN ('updated', 'reactivated')`, args: []any{in.Now, in.Scope.Source, in.CatalogScope}},
		{sql: `UPDATE vulnerability_occurrences o SET first_found = d.first_seen, last_found = d.last_seen, times_found = d.times_found
			FROM stage_diff d WHERE o.id = d.finding_id AND d.action = 'seen'`},
		{sql: `UPDATE vulnerability_occurrences o SET status = 'closed', closed_at = $1, updated_at = $1
			FROM stage_diff d WHERE o.id = d.finding_id AND d.action = 'inactivated'`, args: []any{in.Now}},
		{sql: `INSERT INTO occurrence_history (occurrence_id, run_id, action, at)
			SELECT finding_id, $1, CASE action WHEN 'inactivated' THEN 'closed' WHEN 'reactivated' THEN 'reopened' ELSE action END, $2
			FROM stage_diff WHERE action IN ('updated', 'reactivated', 'inactivated')`, args: []any{in.RunID, in.Now}},
		{sql: `WITH ins AS (
			INSERT INTO vulnerability_occurrences (task_id, identity, asset_id, vulnerability_id, source, port, protocol, instance, status,
				detection_type, vendor_status, evidence, probability, first_found, last_found, times_found, content_hash, created_at, updated_at)
			SELECT $1, d.identity, ha.asset_id, v.id, $3, s.port, s.protocol, COALESCE(substring(d.identity from ':((?:ssl|key)=.*)$'), ''), s.status,
				s.detection_type, s.vendor_status, s.evidence, ` + probabilitySQL + `, d.first_seen, d.last_seen, d.times_found, d.content_hash, $2, $2
			FROM stage_diff d JOIN stage_detections s ON s.ctid = d.src
				JOIN stage_host_assets ha ON ha.vendor_id = s.asset_vendor_id
				JOIN vulnerabilities v ON v.source = $3 AND v.scope = $4 AND v.vendor_id = s.vendor_id
			WHERE d.action = 'created'
			RETURNING id)
			INSERT INTO occurrence_history (occurrence_id, run_id, action, at) SELECT id, $5, 'created', $2 FROM ins`,
			args: []any{in.TaskID, in.Now, in.Scope.Source, in.CatalogScope, in.RunID}},
	}
	for i, q := range steps {
		if _, err = tx.Exec(ctx, q.sql, q.args...); err != nil {
			return nil, false, fmt.Errorf("occurrence import step %d: %w", i+1, err)
		}
	}
	var unlinked int64
	if err = tx.QueryRow(ctx, `SELECT count(*) FROM stage_diff d JOIN stage_detections s ON s.ctid = d.src
		WHERE d.action IN ('created', 'updated', 'reactivated') AND NOT EXISTS (SELECT 1 FROM stage_host_assets ha WHERE ha.vendor_id = s.asset_vendor_id)`).Scan(&unlinked); err != nil {
		return nil, false, err
	}
	if unlinked > 0 {
		return nil, false, fmt.Errorf("%d detections name a host the scanner did not describe; nothing was changed", unlinked)
	}
	rows, err = tx.Query(ctx, "SELECT action, count(*) FROM stage_diff GROUP BY action")
	if err != nil {
		return nil, false, err
	}
	for rows.Next() {
		var action string
		var n int64
		if err = rows.Scan(&action, &n); err != nil {
			rows.Close()
			return nil, false, err
		}
		switch action {
		case "inactivated":
			counts["closed"] += n
		case "reactivated":
			counts["reopened"] += n
		case "seen", "unchanged":
			counts["unchanged"] += n
		default:
			counts[action] += n
		}
	}
	rows.Close()
	if err = rows.Err(); err != nil {
		return nil, false, err
	}
	if in.ExpireAfterDays > 0 {
		tag, err := tx.Exec(ctx, `WITH exp AS (
			UPDATE vulnerability_occurrences SET status = 'expired', expired_at = $2, updated_at = $2
			WHERE task_id = $1 AND status = 'closed' AND closed_at < $2::timestamptz - make_interval(days => $3::int) RETURNING id)
			INSERT INTO occurrence_history (occurrence_id, run_id, action, at) SELECT id, $4, 'expired', $2 FROM exp`,
			in.TaskID, in.Now, in.ExpireAfterDays, in.RunID)
		if err != nil {
			return nil, false, fmt.Errorf("expire occurrences: %w", err)
		}
		counts["expired"] = tag.RowsAffected()
	}
	if in.DeleteAfterDays > 0 {
		tag, err := tx.Exec(ctx, `WITH del AS (
			DELETE FROM vulnerability_occurrences WHERE task_id = $1 AND status = 'expired' AND expired_at < $2::timestamptz - make_interval(days => $3::int) RETURNING id)
			INSERT INTO occurrence_history (occurrence_id, run_id, action, at) SELECT id, $4, 'deleted', $2 FROM del`,
			in.TaskID, in.Now, in.DeleteAfterDays, in.RunID)
		if err != nil {
			return nil, false, fmt.Errorf("delete expired occurrences: %w", err)
		}
		counts["deleted"] = tag.RowsAffected()
	}
	var excepted int64
	if err = tx.QueryRow(ctx, "SELECT count(*) FROM stage_diff WHERE identity IS NOT NULL AND status <> 'open'").Scan(&excepted); err != nil {
		return nil, false, err
	}
	counts["excepted"] = excepted
	counts["total"] = counts["created"] + counts["updated"] + counts["unchanged"] + counts["reopened"]
	if err = st.recordImport(ctx, tx, in.RunID, in.TaskID, counts, in.Now); err != nil {
		return nil, false, err
	}
	return counts, false, tx.Commit(ctx)
}

// probabilitySQL is an occurrence's probability from its staged detection type: confirmed 5,
// potential 3, information gathered 1 (see the scanner_imports migration).
const probabilitySQL = `CASE s.detection_type WHEN 'potential' THEN 3 WHEN 'info' THEN 1 ELSE 5 END`

// ScannerImportCounts returns the counts of the import that run applied for task, if any.
func (s *Store) ScannerImportCounts(ctx context.Context, runID, taskID uuid.UUID) (map[string]int64, bool, error) {
	var raw []byte
	err := s.DB.NewSelect().Table("scanner_imports").Column("counts").Where("run_id = ? AND task_id = ?", runID, taskID).Scan(ctx, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	counts := map[string]int64{}
	return counts, true, json.Unmarshal(raw, &counts)
}

// ActiveOccurrences counts the task's occurrences that are not closed or expired: the guard
// against an empty scanner answer.
func (s *Store) ActiveOccurrences(ctx context.Context, taskID uuid.UUID) (int64, error) {
	var n int64
	err := s.DB.NewSelect().Table("vulnerability_occurrences").ColumnExpr("count(*)").
		Where("task_id = ? AND status NOT IN ('closed', 'expired')", taskID).Scan(ctx, &n)
	return n, err
}
