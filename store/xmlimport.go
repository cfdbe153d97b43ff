package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-io/tributary/scanner"
)

// ImportedFile names the file an XML import run reads.
type ImportedFile struct {
	ID     uuid.UUID
	SHA256 string
	// Records is how many records the run read, Failed how many of them failed.
	Records, Failed int64
}

// Record issue outcomes (import_record_issues.outcome).
const (
	IssueFailed  = "failed"
	IssueSkipped = "skipped"
	IssueWarning = "warning"
)

// RecordIssue is why one record of an import failed or was skipped, or a warning on a record
// that was stored.
type RecordIssue struct {
	Number  int    `json:"number"`
	Line    int    `json:"line"`
	Outcome string `json:"outcome"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

var (
	stageEventCols = []string{"record_no", "record_line", "key", "title", "description", "event_type", "urgency", "severity", "relevance", "progress",
		"responsible", "asset", "event_hash"}
	stageIssueCols = []string{"number", "line", "outcome", "field", "message"}
)

// StagedAsset is one asset of an XML file: the host part is staged as a scanner host would
// be, with the name and host address the file gives and the properties scanners lack.
type StagedAsset struct {
	ID, Name, HostAddress, IP, OS string
	// Relevance is 1-5.
	Relevance int
	// Type, Description, Responsible and Criticality are nil when the file gives none: new
	// assets get the task's defaults, existing ones keep theirs.
	Type, Description, Responsible *string
	Criticality                    *int
}

func optString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func optIntP(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func showOpt[T any](p *T) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// AddAsset stages one asset of a file.
func (st *Staging) AddAsset(ctx context.Context, a StagedAsset) error {
	name, addr := truncate(a.Name, 400), truncate(a.HostAddress, 100)
	hash := contentHash(name, addr, a.IP, "", "", a.OS, strconv.Itoa(a.Relevance), showOpt(a.Type), showOpt(a.Description), showOpt(a.Responsible), showOpt(a.Criticality))
	st.hosts = append(st.hosts, []any{a.ID, a.IP, "", "", a.OS, name, addr, []string{}, a.Relevance, nil, hash,
		optString(a.Type), optString(a.Description), optString(a.Responsible), optIntP(a.Criticality)})
	st.Hosts++
	if len(st.hosts) >= stageBatch {
		return st.flushHosts(ctx)
	}
	return nil
}

// AddRecordDetection stages a detection read from record number (at line) of a file, so
// that a skip names the record.
func (st *Staging) AddRecordDetection(ctx context.Context, number, line int, d scanner.Detection) error {
	st.recordNo, st.recordLine = number, line
	defer func() { st.recordNo, st.recordLine = nil, nil }()
	return st.AddDetection(ctx, d)
}

// StagedEvent is one event of a file.
type StagedEvent struct {
	Number, Line int
	// Key matches the event a previous import created from the same key; "" for none.
	Key                          string
	Title, Description, Type     string
	Urgency, Severity, Relevance int
	Progress                     int
	Responsible                  string
	// Asset names the asset the event is associated with: a host address, name, IP or the
	// id of an asset of the task's source. Optional.
	Asset string
}

// AddEvent stages one event of a file.
func (st *Staging) AddEvent(ctx context.Context, e StagedEvent) error {
	var key any
	if e.Key != "" {
		key = e.Key
	}
	hash := contentHash(e.Title, e.Description, e.Type, strconv.Itoa(e.Urgency), strconv.Itoa(e.Severity), strconv.Itoa(e.Relevance),
		strconv.Itoa(e.Progress), e.Responsible, e.Asset)
	st.events = append(st.events, []any{e.Number, e.Line, key, e.Title, e.Description, e.Type, e.Urgency, e.Severity, e.Relevance, e.Progress,
		e.Responsible, e.Asset, hash})
	if len(st.events) >= stageBatch {
		return st.copyBuffered(ctx, "stage_events", stageEventCols, &st.events)
	}
	return nil
}

// AddIssue stages a record's issue; it is stored with the apply (or by SaveIssues).
func (st *Staging) AddIssue(ctx context.Context, is RecordIssue) error {
	st.issues = append(st.issues, []any{is.Number, is.Line, is.Outcome, is.Field, truncate(is.Message, 2000)})
	if len(st.issues) >= stageBatch {
		return st.copyBuffered(ctx, "stage_issues", stageIssueCols, &st.issues)
	}
	return nil
}

func (st *Staging) flushXML(ctx context.Context) error {
	if err := st.copyBuffered(ctx, "stage_events", stageEventCols, &st.events); err != nil {
		return err
	}
	return st.copyBuffered(ctx, "stage_issues", stageIssueCols, &st.issues)
}

// recordXMLImport writes, in an apply's transaction, which file the run imported and the
// issues of its records.
func recordXMLImport(ctx context.Context, tx pgx.Tx, runID, taskID uuid.UUID, f *ImportedFile, now time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO xml_imports (run_id, task_id, file_id, file_sha256, records, applied_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		runID, taskID, f.ID, f.SHA256, f.Records, now); err != nil {
		return fmt.Errorf("record the imported file: %w", err)
	}
	return saveIssues(ctx, tx, runID)
}

func saveIssues(ctx context.Context, tx pgx.Tx, runID uuid.UUID) error {
	if _, err := tx.Exec(ctx, "DELETE FROM import_record_issues WHERE run_id = $1", runID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO import_record_issues (run_id, number, line, outcome, field, message)
		SELECT $1, number, line, outcome, field, message FROM stage_issues`, runID); err != nil {
		return fmt.Errorf("record the records' issues: %w", err)
	}
	return nil
}

// SaveIssues stores the staged record issues of a run that applies nothing (it failed on its
// error threshold), replacing what an earlier attempt stored.
func (st *Staging) SaveIssues(ctx context.Context, runID uuid.UUID) error {
	if err := st.Flush(ctx); err != nil {
		return err
	}
	tx, err := st.conn.Begin(ctx)
	if err != nil {
		return err
	}
	if err := saveIssues(ctx, tx, runID); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// XMLFileImported says whether the task applied a file with that SHA-256 before, and how
// many records it read then.
func (s *Store) XMLFileImported(ctx context.Context, taskID uuid.UUID, sha256 string) (int64, bool, error) {
	var n int64
	err := s.DB.NewRaw("SELECT records FROM xml_imports WHERE task_id = ? AND file_sha256 = ? ORDER BY applied_at DESC LIMIT 1", taskID, sha256).Scan(ctx, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return n, err == nil, err
}

// RecordIssueCount counts a run's record issues.
func (s *Store) RecordIssueCount(ctx context.Context, runID uuid.UUID) (int64, error) {
	var n int64
	err := s.DB.NewRaw("SELECT count(*) FROM import_record_issues WHERE run_id = ?", runID).Scan(ctx, &n)
	return n, err
}

// RecordIssues lists a run's record issues in record order, after the record number after
// (0 for the first page).
func (s *Store) RecordIssues(ctx context.Context, runID uuid.UUID, outcome string, after, limit int) ([]RecordIssue, error) {
	out := []RecordIssue{}
	q := s.DB.NewSelect().Table("import_record_issues").Column("number", "line", "outcome", "field", "message").
		Where("run_id = ? AND number > ?", runID, after).OrderExpr("number, outcome, field").Limit(int64(limit))
	if outcome != "" {
		q = q.Where("outcome = ?", outcome)
	}
	return out, q.Scan(ctx, &out)
}

// EventApplyInput names an event import's apply.
type EventApplyInput struct {
	RunID  uuid.UUID
	TaskID uuid.UUID
	// Actor is who the history names: the task.
	Actor string
	// AssetPrefix is the identity prefix of the task's own assets, for events naming an
	// asset by its id.
	AssetPrefix string
	// Skipped counts the records already failed or skipped, for the counts.
	Skipped int64
	Now     time.Time
}

// ApplyEvents merges the staged events in one transaction: a keyed event the task imported
// before is updated when its record changed (with a history entry of what changed), other
// records create events; events are associated with the asset they name when one has that
// host address, name, IP or id. A run that already applied returns the same counts with
// replayed true.
func (st *Staging) ApplyEvents(ctx context.Context, in EventApplyInput) (counts map[string]int64, replayed bool, err error) {
	tx, counts, replayed, err := st.begin(ctx, "events:", in.RunID, in.TaskID)
	if err != nil || replayed {
		return counts, replayed, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	counts = map[string]int64{"created": 0, "updated": 0, "unchanged": 0, "skipped": in.Skipped, "assets_unmatched": 0}
	// A key given twice in the file: the last record wins, the others are counted unchanged.
	steps := []string{
		"ANALYZE stage_events",
		`CREATE TEMP TABLE stage_event_rows ON COMMIT DROP AS
			SELECT DISTINCT ON (COALESCE(s.key, s.record_no::text)) s.*, e.id AS event_id, e.content_hash AS old_hash, e.id IS NULL AS is_new
			FROM stage_events s LEFT JOIN events e ON s.key IS NOT NULL AND e.source_task_id = $1 AND e.source_key = s.key
			ORDER BY COALESCE(s.key, s.record_no::text), s.record_no DESC`,
	}
	for i, q := range steps {
		var args []any
		if i == 1 {
			args = []any{in.TaskID}
		}
		if _, err = tx.Exec(ctx, q, args...); err != nil {
			return nil, false, fmt.Errorf("event import: %w", err)
		}
	}
	var staged, rows int64
	if err = tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM stage_events), (SELECT count(*) FROM stage_event_rows)").Scan(&staged, &rows); err != nil {
		return nil, false, err
	}
	// Changed events: lock them, write what changed, update.
	tag, err := tx.Exec(ctx, `WITH old AS (
			SELECT e.* FROM events e JOIN stage_event_rows r ON r.event_id = e.id WHERE r.old_hash <> r.event_hash FOR UPDATE OF e),
		up AS (
			UPDATE events e SET title = r.title, description = r.description, event_type = r.event_type, urgency = r.urgency,
				severity = r.severity, relevance = r.relevance, responsible = r.responsible, content_hash = r.event_hash,
				version = e.version + 1, updated_at = $1
			FROM stage_event_rows r, old WHERE r.event_id = e.id AND old.id = e.id
			RETURNING e.id, e.title, e.description, e.event_type, e.urgency, e.severity, e.relevance, e.responsible)
		INSERT INTO event_history (event_id, at, actor, actor_kind, run_id, action, changes)
		SELECT up.id, $1, $2, 'task', $3, 'updated', jsonb_strip_nulls(jsonb_build_object(
			'title', CASE WHEN old.title <> up.title THEN jsonb_build_array(old.title, up.title) END,
			'description', CASE WHEN old.description <> up.description THEN jsonb_build_array(old.description, up.description) END,
			'type', CASE WHEN old.event_type <> up.event_type THEN jsonb_build_array(old.event_type, up.event_type) END,
			'urgency', CASE WHEN old.urgency <> up.urgency THEN jsonb_build_array(old.urgency, up.urgency) END,
			'severity', CASE WHEN old.severity <> up.severity THEN jsonb_build_array(old.severity, up.severity) END,
			'relevance', CASE WHEN old.relevance <> up.relevance THEN jsonb_build_array(old.relevance, up.relevance) END,
			'responsible', CASE WHEN old.responsible <> up.responsible THEN jsonb_build_array(old.responsible, up.responsible) END))
		FROM up JOIN old ON old.id = up.id`, in.Now, in.Actor, in.RunID)
	if err != nil {
		return nil, false, fmt.Errorf("update imported events: %w", err)
	}
	counts["updated"] = tag.RowsAffected()
	// New events, with their IDs drawn first so that the records keep them.
	if _, err = tx.Exec(ctx, `UPDATE stage_event_rows SET event_id = nextval(pg_get_serial_sequence('events', 'id')) WHERE is_new`); err != nil {
		return nil, false, err
	}
	tag, err = tx.Exec(ctx, `WITH ins AS (
			INSERT INTO events (id, event_type, title, description, urgency, severity, relevance, progress, responsible, created_by,
				created_at, updated_at, source_task_id, source_key, content_hash)
			OVERRIDING SYSTEM VALUE
			SELECT event_id, event_type, title, description, urgency, severity, relevance, progress, responsible, $2, $1, $1, $3, key, event_hash
			FROM stage_event_rows WHERE is_new ORDER BY record_no
			RETURNING id)
		INSERT INTO event_history (event_id, at, actor, actor_kind, run_id, action) SELECT id, $1, $2, 'task', $4, 'created' FROM ins`,
		in.Now, in.Actor, in.TaskID, in.RunID)
	if err != nil {
		return nil, false, fmt.Errorf("create imported events: %w", err)
	}
	counts["created"] = tag.RowsAffected()
	counts["unchanged"] = staged - counts["created"] - counts["updated"]
	// Associate the events with the assets they name; an unknown asset is a warning.
	if _, err = tx.Exec(ctx, `CREATE TEMP TABLE stage_event_assets ON COMMIT DROP AS
		SELECT r.record_no, r.record_line, r.event_id, r.asset, m.id AS asset_id
		FROM stage_event_rows r
		LEFT JOIN LATERAL (SELECT a.id FROM assets a WHERE a.identity_key = $1 || r.asset OR lower(a.host_address) = lower(r.asset)
			OR a.ip_addresses @> ARRAY[r.asset] OR a.name = r.asset ORDER BY (a.identity_key = $1 || r.asset) DESC, (a.status = 'active') DESC, a.id LIMIT 1) m ON true
		WHERE r.asset <> '' AND (r.is_new OR r.old_hash <> r.event_hash)`, in.AssetPrefix); err != nil {
		return nil, false, fmt.Errorf("match events to assets: %w", err)
	}
	if _, err = tx.Exec(ctx, `INSERT INTO event_assets (event_id, asset_id) SELECT DISTINCT event_id, asset_id FROM stage_event_assets
		WHERE asset_id IS NOT NULL ON CONFLICT DO NOTHING`); err != nil {
		return nil, false, fmt.Errorf("associate events with assets: %w", err)
	}
	tag, err = tx.Exec(ctx, `INSERT INTO stage_issues (number, line, outcome, field, message)
		SELECT record_no, record_line, 'warning', 'asset', format('no asset has the id, host address, IP or name %s: the event was stored without it', asset)
		FROM stage_event_assets WHERE asset_id IS NULL`)
	if err != nil {
		return nil, false, err
	}
	counts["assets_unmatched"] = tag.RowsAffected()
	counts["total"] = staged
	if err = st.recordImport(ctx, tx, in.RunID, in.TaskID, counts, in.Now); err != nil {
		return nil, false, err
	}
	return counts, false, tx.Commit(ctx)
}
