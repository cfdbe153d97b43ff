package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-io/tributary/scanner"
)

// stageBatch is how many rows are buffered before they are copied into staging.
const stageBatch = 5000

// Staging is the staging area of one record's reimport: temporary tables on one dedicated
// connection that the vendor's pages are copied into (COPY, in batches) before Apply merges
// them into the record's findings with a few set-based statements. The tables live and die
// with the connection, so an attempt that crashes leaves nothing behind.
type Staging struct {
	conn  *pgx.Conn
	dets  [][]any
	defs  [][]any
	hosts [][]any
	// tickets and comments are remediation tickets and their history comments (remediation.go).
	tickets, comments [][]any
	// events and issues are the XML imports' events and record issues (xmlimport.go).
	events, issues [][]any
	// recordNo is the file record number of the detections staged next (XML imports), nil
	// for vendor detections.
	recordNo, recordLine any
	// File names the file an XML import stages, recorded with the apply.
	File *ImportedFile
	// lastHost is the host of the previous detection: a host's detections share it, so it is
	// staged once.
	lastHost *scanner.Host
	// Relevance maps a host to its Modulo relevance (1-5) when hosts are staged. Optional;
	// defaults to 3.
	Relevance func(*scanner.Host) int
	// copying is the COPY of the previous batch of detections, running while the next batch
	// is parsed; it yields the COPY's error.
	copying chan error
	// Detections and Definitions count the rows staged so far.
	Detections  int64
	Definitions int64
	Hosts       int64
	Tickets     int64
}

var (
	stageDetectionCols = []string{"identity", "vendor_id", "host", "ip", "port", "protocol", "evidence", "severity", "vendor_severity", "first_seen", "last_seen",
		"status", "vendor_status", "detection_type", "unique_vuln_id", "asset_vendor_id", "qds", "times_found", "last_fixed", "solution", "solution_html",
		"evidence_html", "det_hash", "record_no", "record_line"}
	stageDefinitionCols = []string{"vendor_id", "title", "description", "solution", "cves", "severity", "vendor_severity", "description_html", "solution_html", "def_hash"}
)

// WithStaging runs fn with an empty staging area on a connection of its own.
func (s *Store) WithStaging(ctx context.Context, fn func(*Staging) error) error {
	return withPgx(ctx, s.DB, "staging", func(c *pgx.Conn) error {
		st := &Staging{conn: c}
		if _, err := st.conn.Exec(ctx, `
			CREATE TEMP TABLE IF NOT EXISTS stage_detections (
				identity text NOT NULL, vendor_id text NOT NULL, host text NOT NULL, ip text NOT NULL, port integer,
				protocol text NOT NULL, evidence text NOT NULL, severity text NOT NULL, vendor_severity text NOT NULL,
				first_seen timestamptz, last_seen timestamptz, status text NOT NULL, vendor_status text NOT NULL,
				detection_type text NOT NULL, unique_vuln_id text NOT NULL, asset_vendor_id text NOT NULL, qds integer,
				times_found integer, last_fixed timestamptz, solution text NOT NULL, solution_html text NOT NULL,
				evidence_html text NOT NULL, det_hash text NOT NULL, record_no integer, record_line integer);
			CREATE TEMP TABLE IF NOT EXISTS stage_definitions (
				vendor_id text PRIMARY KEY, title text NOT NULL, description text NOT NULL, solution text NOT NULL,
				cves text[] NOT NULL, severity text NOT NULL, vendor_severity text NOT NULL, description_html text NOT NULL,
				solution_html text NOT NULL, def_hash text NOT NULL);
			CREATE TEMP TABLE IF NOT EXISTS stage_hosts (
				vendor_id text NOT NULL, ip text NOT NULL, dns text NOT NULL, netbios text NOT NULL, os text NOT NULL,
				name text NOT NULL, address text NOT NULL, groups text[] NOT NULL, relevance smallint NOT NULL,
				last_scan timestamptz, host_hash text NOT NULL, asset_type text, description text, responsible text, criticality smallint);
			CREATE TEMP TABLE IF NOT EXISTS stage_events (
				record_no integer NOT NULL, record_line integer NOT NULL, key text, title text NOT NULL, description text NOT NULL, event_type text NOT NULL,
				urgency smallint NOT NULL, severity smallint NOT NULL, relevance smallint NOT NULL, progress smallint NOT NULL,
				responsible text NOT NULL, asset text NOT NULL, event_hash text NOT NULL);
			CREATE TEMP TABLE IF NOT EXISTS stage_issues (
				number integer NOT NULL, line integer NOT NULL, outcome text NOT NULL, field text NOT NULL, message text NOT NULL);
			CREATE TEMP TABLE IF NOT EXISTS stage_tickets (
				number bigint NOT NULL, state text NOT NULL, status text NOT NULL, ip text NOT NULL, dns text NOT NULL,
				netbios text NOT NULL, port integer, service text NOT NULL, qid text NOT NULL, title text NOT NULL, modified timestamptz);
			CREATE TEMP TABLE IF NOT EXISTS stage_ticket_comments (
				number bigint NOT NULL, at timestamptz NOT NULL, actor text NOT NULL, body text NOT NULL, key text NOT NULL);
			TRUNCATE stage_detections, stage_definitions, stage_hosts, stage_tickets, stage_ticket_comments, stage_events, stage_issues`); err != nil {
			return fmt.Errorf("create staging tables: %w", err)
		}
		defer func() {
			// A pooled connection keeps its temporary tables: empty them for the next user.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = st.conn.Exec(cctx, "DROP TABLE IF EXISTS stage_detections, stage_definitions, stage_hosts, stage_tickets, stage_ticket_comments, stage_events, stage_issues")
		}()
		err := fn(st)
		// The connection is free for the cleanup only once a background COPY has ended.
		if werr := st.waitCopy(); err == nil {
			err = werr
		}
		return err
	})
}

// contentHash hashes the fields that make a finding's content (first and last seen are not
// content): 16 bytes of SHA-256 over the length-prefixed fields, in hex.
func contentHash(fields ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range fields {
		binary.LittleEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func optInt(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}

func optIntText(p *int32) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(int(*p))
}

// AddDetection stages one detection. A detection without a status is open.
func (st *Staging) AddDetection(ctx context.Context, d scanner.Detection) error {
	var port any
	if d.HasPort {
		port = d.Port
	}
	if d.Status == "" {
		d.Status = scanner.StatusOpen
	}
	var fixed string
	if !d.LastFixed.IsZero() {
		fixed = d.LastFixed.UTC().Format(time.RFC3339Nano)
	}
	h := contentHash(d.VendorID, d.Host, d.IP, strconv.FormatBool(d.HasPort), strconv.Itoa(int(d.Port)), d.Protocol, d.Evidence, d.Severity, d.VendorSeverity,
		d.Status, d.VendorStatus, d.Type, d.UniqueID, d.AssetVendorID, optIntText(d.QDS), fixed, d.Solution, d.SolutionHTML, d.EvidenceHTML)
	st.dets = append(st.dets, []any{d.Identity, d.VendorID, d.Host, d.IP, port, d.Protocol, d.Evidence,
		d.Severity, d.VendorSeverity, nullTime(d.FirstSeen), nullTime(d.LastSeen), d.Status, d.VendorStatus, d.Type, d.UniqueID,
		d.AssetVendorID, optInt(d.QDS), optInt(d.TimesFound), nullTime(d.LastFixed), d.Solution, d.SolutionHTML, d.EvidenceHTML, h, st.recordNo, st.recordLine})
	st.Detections++
	if d.Asset != nil && d.Asset != st.lastHost {
		st.lastHost = d.Asset
		if err := st.AddHost(ctx, *d.Asset); err != nil {
			return err
		}
	}
	if len(st.dets) >= stageBatch {
		return st.flushDetections(ctx)
	}
	return nil
}

// AddDefinition stages one vulnerability definition.
func (st *Staging) AddDefinition(ctx context.Context, d scanner.Definition) error {
	cves := d.CVEs
	if cves == nil {
		cves = []string{}
	}
	h := contentHash(append([]string{d.Title, d.Description, d.Solution, d.Severity, d.VendorSeverity, d.DescriptionHTML, d.SolutionHTML}, cves...)...)
	st.defs = append(st.defs, []any{d.VendorID, d.Title, d.Description, d.Solution, cves, d.Severity, d.VendorSeverity, d.DescriptionHTML, d.SolutionHTML, h})
	st.Definitions++
	if len(st.defs) >= stageBatch {
		return st.flushDefinitions(ctx)
	}
	return nil
}

// flushDetections starts copying the buffered detections, in the background, after the
// previous batch's COPY has finished: at most two batches are held.
func (st *Staging) flushDetections(ctx context.Context) error {
	if err := st.waitCopy(); err != nil {
		return err
	}
	if len(st.dets) == 0 {
		return nil
	}
	batch := st.dets
	st.dets = make([][]any, 0, stageBatch)
	st.copying = make(chan error, 1)
	go func(done chan<- error) {
		_, err := st.conn.CopyFrom(ctx, pgx.Identifier{"stage_detections"}, stageDetectionCols, pgx.CopyFromRows(batch))
		done <- err
	}(st.copying)
	return nil
}

// waitCopy waits for the background COPY, if one runs.
func (st *Staging) waitCopy() error {
	if st.copying == nil {
		return nil
	}
	err := <-st.copying
	st.copying = nil
	if err != nil {
		return fmt.Errorf("copy detections into staging: %w", err)
	}
	return nil
}

func (st *Staging) flushDefinitions(ctx context.Context) error {
	return st.copyBuffered(ctx, "stage_definitions", stageDefinitionCols, &st.defs)
}

// copyBuffered copies the buffered rows into a staging table (after a background COPY of
// detections has ended: the connection does one thing at a time) and empties the buffer.
func (st *Staging) copyBuffered(ctx context.Context, table string, cols []string, buf *[][]any) error {
	if err := st.waitCopy(); err != nil {
		return err
	}
	if len(*buf) == 0 {
		return nil
	}
	_, err := st.conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(*buf))
	*buf = (*buf)[:0]
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}

// Flush copies the buffered rows into staging and waits until they are there.
func (st *Staging) Flush(ctx context.Context) error {
	if err := st.flushDetections(ctx); err != nil {
		return err
	}
	if err := st.waitCopy(); err != nil {
		return err
	}
	if err := st.flushHosts(ctx); err != nil {
		return err
	}
	if err := st.flushTickets(ctx); err != nil {
		return err
	}
	if err := st.flushXML(ctx); err != nil {
		return err
	}
	return st.flushDefinitions(ctx)
}

// missingDefinitionsSQL selects the vendor IDs of staged detections without a staged definition.
const missingDefinitionsSQL = `SELECT DISTINCT d.vendor_id FROM stage_detections d
	WHERE NOT EXISTS (SELECT 1 FROM stage_definitions x WHERE x.vendor_id = d.vendor_id)`

// MissingDefinitions returns, in order, the vendor IDs of staged detections that have no
// staged definition.
func (st *Staging) MissingDefinitions(ctx context.Context) ([]string, error) {
	if err := st.Flush(ctx); err != nil {
		return nil, err
	}
	rows, err := st.conn.Query(ctx, missingDefinitionsSQL+" ORDER BY 1")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ApplyInput names the reimport that Apply performs.
type ApplyInput struct {
	RunID     uuid.UUID
	RecordID  uuid.UUID
	TestID    uuid.UUID
	StartedAt time.Time
	Now       time.Time
	// Assets, when set, links each finding to the shared asset of its host, creating assets
	// for hosts no import has created yet.
	Assets *AssetScope
}

// diffSQL creates stage_diff: one narrow row per identity (a vendor may list a host twice
// when its list shifts between pages) with where its staged row is, the hash that says
// whether it changed, and the existing row it matches with what the import does to it. The
// wide texts stay in staging until a statement needs them. existing selects the rows the
// import may change (id, identity, active, status, content_hash, first_seen, last_seen,
// times_found); started is the placeholder of the run's start, the last-seen time of rows the
// vendor gives none. Actions: created, reactivated (an inactive row found open again), updated
// (content or status changed), seen (only times changed), unchanged, inactivated (an active
// row missing from staging).
func diffSQL(existing, started string) string {
	return `CREATE TEMP TABLE stage_diff ON COMMIT DROP AS
		SELECT k.identity, k.src, k.content_hash, k.first_seen, k.last_seen, k.times_found, k.status, k.vendor_id,
			k.asset_vendor_id, f.id AS finding_id,
			CASE WHEN k.identity IS NULL THEN 'inactivated'
			     WHEN f.id IS NULL THEN 'created'
			     WHEN NOT f.active AND k.status = 'open' THEN 'reactivated'
			     WHEN f.content_hash <> k.content_hash OR f.status <> k.status THEN 'updated'
			     WHEN f.last_seen IS DISTINCT FROM k.last_seen OR f.first_seen IS DISTINCT FROM k.first_seen
			          OR f.times_found IS DISTINCT FROM k.times_found THEN 'seen'
			     ELSE 'unchanged' END AS action
		FROM (
			SELECT DISTINCT ON (s.identity) s.identity, s.ctid AS src, s.det_hash || x.def_hash AS content_hash,
				s.first_seen, COALESCE(s.last_seen, ` + started + `::timestamptz) AS last_seen, s.times_found, s.status, s.vendor_id,
				s.asset_vendor_id
			FROM stage_detections s JOIN stage_definitions x ON x.vendor_id = s.vendor_id
			ORDER BY s.identity, s.last_seen DESC NULLS LAST
		) k FULL JOIN (` + existing + `) f ON f.identity = k.identity
		WHERE k.identity IS NOT NULL OR f.active`
}

// ErrMissingDefinition is returned by Apply when a staged detection has no definition.
var ErrMissingDefinition = errors.New("a detection refers to a vulnerability without a definition")

// Apply merges the staged detections into the record's findings of the test, in one
// transaction: new identities are created active; matched findings take the new details and
// last-seen time and are reactivated if they were inactive; the record's active findings
// missing from staging are inactivated. Every change is written to finding_actions under a
// new test_imports row with the counts. A run that already applied this record (a retried
// attempt) gets that import back and nothing changes. Applied is false then.
func (st *Staging) Apply(ctx context.Context, in ApplyInput) (ti *TestImport, applied bool, err error) {
	if err := st.Flush(ctx); err != nil {
		return nil, false, err
	}
	tx, err := st.conn.Begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// One reimport of a record at a time, even with a zombie attempt still running.
	if _, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('reimport:' || $1::text))", in.RecordID); err != nil {
		return nil, false, err
	}
	prev := &TestImport{}
	err = tx.QueryRow(ctx, `SELECT id, test_id, record_id, run_id, started_at, applied_at, total, created, updated, reactivated, inactivated, unchanged, excepted
		FROM test_imports WHERE run_id = $1 AND record_id = $2`, in.RunID, in.RecordID).
		Scan(&prev.ID, &prev.TestID, &prev.RecordID, &prev.RunID, &prev.StartedAt, &prev.AppliedAt, &prev.Total, &prev.Created,
			&prev.Updated, &prev.Reactivated, &prev.Inactivated, &prev.Unchanged, &prev.Excepted)
	if err == nil {
		return prev, false, tx.Commit(ctx)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, err
	}
	var missing string
	err = tx.QueryRow(ctx, "SELECT COALESCE(string_agg(vendor_id, ', '), '') FROM ("+missingDefinitionsSQL+" ORDER BY 1 LIMIT 5) m").Scan(&missing)
	if err != nil {
		return nil, false, err
	}
	if missing != "" {
		return nil, false, fmt.Errorf("%w: %s", ErrMissingDefinition, missing)
	}
	assetJoin, assetCol := "", "NULL::uuid"
	if in.Assets != nil {
		if _, err = linkHostAssets(ctx, tx, *in.Assets, AssetDefaults{}, in.Now); err != nil {
			return nil, false, err
		}
		assetJoin, assetCol = " LEFT JOIN stage_host_assets ha ON ha.vendor_id = s.asset_vendor_id", "ha.asset_id"
	}
	type step struct {
		sql  string
		args []any
	}
	steps := []step{
		// Sorts and hashes of a large record stay in memory, and the joins of whole sets are
		// hash joins: statistics of findings lag behind a large import.
		{sql: "SET LOCAL work_mem = '64MB'"},
		{sql: "SET LOCAL enable_mergejoin = off"},
		{sql: "ANALYZE stage_detections (identity, vendor_id)"},
		{sql: "ANALYZE stage_definitions (vendor_id)"},
		{sql: diffSQL(`SELECT id, identity, active, status, content_hash, first_seen, last_seen, times_found
			FROM findings WHERE test_id = $1 AND record_id = $2`, "$3"), args: []any{in.TestID, in.RecordID, in.StartedAt}},
		{sql: "ANALYZE stage_diff (finding_id, action, src)"},
	}
	if in.Assets != nil {
		// Findings from before asset links get theirs when they are seen again.
		steps = append(steps, step{sql: `UPDATE findings f SET asset_id = ha.asset_id
			FROM stage_diff d JOIN stage_detections s ON s.ctid = d.src JOIN stage_host_assets ha ON ha.vendor_id = s.asset_vendor_id
			WHERE f.id = d.finding_id AND f.asset_id IS NULL AND d.action IN ('seen', 'unchanged')`})
	}
	for i, q := range steps {
		if _, err = tx.Exec(ctx, q.sql, q.args...); err != nil {
			return nil, false, fmt.Errorf("reimport step %d: %w", i+1, err)
		}
	}
	importID := uuid.New()
	if _, err = tx.Exec(ctx, `INSERT INTO test_imports (id, test_id, record_id, run_id, started_at, applied_at, total, created, updated, reactivated, inactivated, unchanged)
		VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, 0, 0, 0)`, importID, in.TestID, in.RecordID, in.RunID, in.StartedAt, in.Now); err != nil {
		return nil, false, err
	}
	// Changed and returning findings take every field; findings only seen again take the times.
	if _, err = tx.Exec(ctx, `
		UPDATE findings f SET title = x.title,
			severity = CASE WHEN s.severity <> '' THEN s.severity ELSE x.severity END,
			vendor_severity = CASE WHEN s.vendor_severity <> '' THEN s.vendor_severity ELSE x.vendor_severity END,
			vendor_id = s.vendor_id, cves = x.cves, host = s.host, ip = s.ip, port = s.port, protocol = s.protocol,
			description = x.description, solution = COALESCE(NULLIF(s.solution, ''), x.solution), evidence = s.evidence,
			first_seen = d.first_seen, last_seen = d.last_seen, content_hash = d.content_hash,
			status = s.status, active = s.status = 'open',
			inactivated_at = CASE WHEN s.status = 'open' THEN NULL ELSE COALESCE(f.inactivated_at, $1) END, updated_at = $1,
			vendor_status = s.vendor_status, detection_type = s.detection_type, unique_vuln_id = s.unique_vuln_id,
			asset_vendor_id = s.asset_vendor_id, qds = s.qds, times_found = s.times_found, last_fixed = s.last_fixed,
			description_html = x.description_html, solution_html = COALESCE(NULLIF(s.solution_html, ''), x.solution_html),
			evidence_html = s.evidence_html, asset_id = COALESCE(`+assetCol+`, f.asset_id)
		FROM stage_diff d JOIN stage_detections s ON s.ctid = d.src JOIN stage_definitions x ON x.vendor_id = s.vendor_id`+assetJoin+`
		WHERE f.id = d.finding_id AND d.action IN ('updated', 'reactivated')`, in.Now); err != nil {
		return nil, false, fmt.Errorf("update matched findings: %w", err)
	}
	if _, err = tx.Exec(ctx, `UPDATE findings f SET first_seen = d.first_seen, last_seen = d.last_seen, times_found = d.times_found
		FROM stage_diff d WHERE f.id = d.finding_id AND d.action = 'seen'`); err != nil {
		return nil, false, fmt.Errorf("update seen findings: %w", err)
	}
	if _, err = tx.Exec(ctx, `
		WITH gone AS (
			UPDATE findings f SET active = false, status = 'mitigated', inactivated_at = $1, updated_at = $1
			FROM stage_diff d WHERE f.id = d.finding_id AND d.action = 'inactivated'
			RETURNING f.id)
		INSERT INTO finding_actions (finding_id, import_id, action) SELECT id, $2, 'inactivated' FROM gone`,
		in.Now, importID); err != nil {
		return nil, false, fmt.Errorf("inactivate missing findings: %w", err)
	}
	if _, err = tx.Exec(ctx, `
		WITH ins AS (
			INSERT INTO findings (test_id, record_id, identity, title, severity, vendor_severity, vendor_id, cves, host, ip, port,
				protocol, description, solution, evidence, first_seen, last_seen, active, status, inactivated_at, content_hash,
				created_at, updated_at, vendor_status, detection_type, unique_vuln_id, asset_vendor_id, qds, times_found, last_fixed,
				description_html, solution_html, evidence_html, asset_id)
			SELECT $1, $2, d.identity, x.title,
				CASE WHEN s.severity <> '' THEN s.severity ELSE x.severity END,
				CASE WHEN s.vendor_severity <> '' THEN s.vendor_severity ELSE x.vendor_severity END,
				s.vendor_id, x.cves, s.host, s.ip, s.port, s.protocol, x.description, COALESCE(NULLIF(s.solution, ''), x.solution), s.evidence,
				d.first_seen, d.last_seen, s.status = 'open', s.status, CASE WHEN s.status = 'open' THEN NULL ELSE $3::timestamptz END,
				d.content_hash, $3, $3, s.vendor_status, s.detection_type, s.unique_vuln_id, s.asset_vendor_id, s.qds, s.times_found,
				s.last_fixed, x.description_html, COALESCE(NULLIF(s.solution_html, ''), x.solution_html), s.evidence_html, `+assetCol+`
			FROM stage_diff d JOIN stage_detections s ON s.ctid = d.src JOIN stage_definitions x ON x.vendor_id = s.vendor_id`+assetJoin+`
			WHERE d.action = 'created'
			RETURNING id)
		INSERT INTO finding_actions (finding_id, import_id, action) SELECT id, $4, 'created' FROM ins`,
		in.TestID, in.RecordID, in.Now, importID); err != nil {
		return nil, false, fmt.Errorf("insert new findings: %w", err)
	}
	ti = &TestImport{ID: importID, TestID: in.TestID, RecordID: in.RecordID, RunID: in.RunID, StartedAt: in.StartedAt, AppliedAt: in.Now}
	if _, err = tx.Exec(ctx, `INSERT INTO finding_actions (finding_id, import_id, action)
		SELECT finding_id, $1, action FROM stage_diff WHERE action IN ('updated', 'reactivated')`, importID); err != nil {
		return nil, false, fmt.Errorf("record finding actions: %w", err)
	}
	if err = tx.QueryRow(ctx, "SELECT count(*) FROM stage_diff WHERE identity IS NOT NULL AND status <> 'open'").Scan(&ti.Excepted); err != nil {
		return nil, false, err
	}
	rows, err := tx.Query(ctx, "SELECT action, count(*) FROM stage_diff GROUP BY action")
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
		if action == "inactivated" {
			ti.Inactivated = n
			continue
		}
		ti.Total += n
		switch action {
		case "created":
			ti.Created = n
		case "updated":
			ti.Updated = n
		case "reactivated":
			ti.Reactivated = n
		default: // unchanged, or only seen again
			ti.Unchanged += n
		}
	}
	rows.Close()
	if err = rows.Err(); err != nil {
		return nil, false, err
	}
	if _, err = tx.Exec(ctx, `UPDATE test_imports SET total = $2, created = $3, updated = $4, reactivated = $5, inactivated = $6, unchanged = $7,
		excepted = $8 WHERE id = $1`, importID, ti.Total, ti.Created, ti.Updated, ti.Reactivated, ti.Inactivated, ti.Unchanged, ti.Excepted); err != nil {
		return nil, false, err
	}
	if err = tx.Commit(ctx); err != nil {
		return nil, false, err
	}
	return ti, true, nil
}
