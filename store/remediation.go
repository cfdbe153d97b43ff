package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/scanner/qualys"
)

var (
	stageTicketCols  = []string{"number", "state", "status", "ip", "dns", "netbios", "port", "service", "qid", "title", "modified"}
	stageCommentCols = []string{"number", "at", "actor", "body", "key"}
)

// maxEntry is the longest progress entry (the event_progress check).
const maxEntry = 5500

// AddTicket stages one remediation ticket and the comments of its history.
func (st *Staging) AddTicket(ctx context.Context, t qualys.Ticket) error {
	var port any
	if t.Port != nil {
		port = *t.Port
	}
	st.tickets = append(st.tickets, []any{t.Number, t.State, t.Status, t.IP, t.DNS, t.NetBIOS, port, t.Service, t.QID, t.Title, nullTime(t.Modified)})
	st.Tickets++
	for _, h := range t.History {
		if h.Comment == "" {
			continue
		}
		who := "Qualys ticket " + strconv.FormatInt(t.Number, 10)
		if h.Actor != "" {
			who += ", " + h.Actor
		}
		body := truncate(who+": "+h.Comment, maxEntry)
		// The key names the comment, not the run that read it: a comment is copied once.
		key := "qualys-comment:" + strconv.FormatInt(t.Number, 10) + ":" + h.At.UTC().Format(time.RFC3339) + ":" + contentHash(h.Actor, h.Comment)
		st.comments = append(st.comments, []any{t.Number, h.At, h.Actor, body, key})
	}
	if len(st.tickets) >= stageBatch {
		return st.flushTickets(ctx)
	}
	return nil
}

func (st *Staging) flushTickets(ctx context.Context) error {
	if err := st.copyBuffered(ctx, "stage_tickets", stageTicketCols, &st.tickets); err != nil {
		return err
	}
	return st.copyBuffered(ctx, "stage_ticket_comments", stageCommentCols, &st.comments)
}

// RemediationApplyInput names a remediation sync's apply.
type RemediationApplyInput struct {
	RunID  uuid.UUID
	TaskID uuid.UUID
	// Actor is the task, as events' progress entries and history name it.
	Actor Actor
	// AssetPrefix is the identity prefix of the Qualys server's assets ("qualys:<server>:").
	AssetPrefix string
	// CatalogScope is the Qualys server of the vulnerability catalogue.
	CatalogScope string
	// ResolvingStates are the ticket states that resolve an occurrence (CLOSED, and RESOLVED
	// by policy).
	ResolvingStates []string
	// Watermark is the time the next run reads tickets modified since (less its overlap).
	Watermark time.Time
	Now       time.Time
}

// RemediationWatermark returns the watermark of a remediation task's last complete read.
func (s *Store) RemediationWatermark(ctx context.Context, taskID uuid.UUID) (time.Time, bool, error) {
	var t time.Time
	err := s.DB.NewRaw("SELECT watermark FROM remediation_sync_state WHERE task_id = ?", taskID).Scan(ctx, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return t, err == nil, err
}

// ApplyRemediation applies the staged tickets to events in one transaction:
//   - each ticket is linked to the occurrences it describes: the Qualys server's asset with
//     the ticket's IP (its DNS or NetBIOS name when it has no IP), the catalogue entry of its
//     QID, and the port when the ticket names one; the ticket numbers are kept
//     (remediation_tickets), so every occurrence knows its tickets;
//   - a ticket in a resolving state resolves the event occurrences of its occurrences: a
//     single-vulnerability event goes to 100 % and is closed (if open), a consolidated
//     event's progress becomes resolved / total; a progress entry says so;
//   - an OPEN ticket whose occurrence a ticket had resolved unresolves it: a closed
//     single-vulnerability event is reopened, a consolidated one gets an entry;
//   - IGNORED (and RESOLVED, where it does not resolve) adds an entry only;
//   - history comments become entries, each once per event (keyed by the comment);
//   - the watermark moves.
//
// Events are locked while they change, so a person's edit of one is never lost. A run that
// already applied returns the same counts with replayed true.
func (st *Staging) ApplyRemediation(ctx context.Context, in RemediationApplyInput) (counts map[string]int64, replayed bool, err error) {
	tx, counts, replayed, err := st.begin(ctx, "remediation:", in.RunID, in.TaskID)
	if err != nil || replayed {
		return counts, replayed, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	resolvedBy := "Qualys ticket "
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"analyze", "ANALYZE stage_tickets", nil},
		// The server's assets by address (a hash join, where = ANY(ip_addresses) would be a
		// nested loop), then each ticket's occurrences.
		{"index assets", `CREATE TEMP TABLE stage_asset_keys ON COMMIT DROP AS
			SELECT 'ip' AS kind, ip AS key, id AS asset_id FROM assets, unnest(ip_addresses) ip WHERE starts_with(identity_key, $1)
			UNION ALL SELECT 'dns', dns, id FROM assets WHERE starts_with(identity_key, $1) AND dns <> ''
			UNION ALL SELECT 'netbios', upper(netbios), id FROM assets WHERE starts_with(identity_key, $1) AND netbios <> ''`, []any{in.AssetPrefix}},
		{"analyze", "ANALYZE stage_asset_keys", nil},
		{"link tickets", `CREATE TEMP TABLE stage_ticket_occ ON COMMIT DROP AS
			WITH ta AS (
				SELECT t.number, t.qid, t.port, k.asset_id FROM stage_tickets t JOIN stage_asset_keys k ON k.kind = 'ip' AND k.key = t.ip
				WHERE t.ip <> ''
				UNION ALL
				SELECT t.number, t.qid, t.port, k.asset_id FROM stage_tickets t JOIN stage_asset_keys k ON k.kind = 'dns' AND k.key = t.dns
				WHERE t.ip = '' AND t.dns <> ''
				UNION ALL
				SELECT t.number, t.qid, t.port, k.asset_id FROM stage_tickets t JOIN stage_asset_keys k ON k.kind = 'netbios' AND k.key = upper(t.netbios)
				WHERE t.ip = '' AND t.dns = '' AND t.netbios <> '')
			SELECT DISTINCT ta.number, o.id AS occurrence_id
			FROM ta JOIN vulnerabilities v ON v.source = 'qualys' AND v.scope = $1 AND v.vendor_id = ta.qid
				JOIN vulnerability_occurrences o ON o.asset_id = ta.asset_id AND o.vulnerability_id = v.id
			WHERE ta.port IS NULL OR o.port IS NULL OR o.port = ta.port`, []any{in.CatalogScope}},
		{"analyze", "ANALYZE stage_ticket_occ", nil},
		{"keep tickets", `INSERT INTO remediation_tickets AS r (task_id, number, state, status, ip, dns, netbios, port, service, qid, title,
				modified_at, occurrence_ids, applied_state, seen_run_id, updated_at)
			SELECT $1, t.number, t.state, t.status, t.ip, t.dns, t.netbios, t.port, t.service, t.qid, t.title, t.modified,
				COALESCE(o.ids, '{}'), t.state, $2, $3
			FROM stage_tickets t LEFT JOIN (SELECT number, array_agg(occurrence_id ORDER BY occurrence_id) AS ids FROM stage_ticket_occ GROUP BY number) o
				ON o.number = t.number
			ON CONFLICT (task_id, number) DO UPDATE SET state = EXCLUDED.state, status = EXCLUDED.status, ip = EXCLUDED.ip, dns = EXCLUDED.dns,
				netbios = EXCLUDED.netbios, port = EXCLUDED.port, service = EXCLUDED.service, qid = EXCLUDED.qid, title = EXCLUDED.title,
				modified_at = EXCLUDED.modified_at, occurrence_ids = EXCLUDED.occurrence_ids, applied_state = EXCLUDED.applied_state,
				seen_run_id = EXCLUDED.seen_run_id, updated_at = EXCLUDED.updated_at`, []any{in.TaskID, in.RunID, in.Now}},
		// What each ticket does to each event occurrence it describes: tickets read now, and
		// stored resolving tickets of event occurrences still unresolved (an event created
		// after its ticket was closed).
		{"plan", `CREATE TEMP TABLE stage_ticket_acts ON COMMIT DROP AS
			SELECT * FROM (
				SELECT r.number, r.state, r.qid, r.ip, r.dns, r.netbios, r.modified_at, eo.event_id, eo.occurrence_id,
					CASE WHEN r.state = ANY($3) AND eo.resolved_at IS NULL THEN 'resolve'
					     WHEN r.state = 'OPEN' AND eo.resolved_at IS NOT NULL AND eo.resolved_by LIKE $4 || '%' THEN 'reopen'
					     WHEN r.seen_run_id = $2 AND r.state IN ('IGNORED', 'RESOLVED') AND NOT r.state = ANY($3) THEN lower(r.state)
					END AS act
				FROM remediation_tickets r CROSS JOIN LATERAL unnest(r.occurrence_ids) AS occ(id)
					JOIN event_occurrences eo ON eo.occurrence_id = occ.id
				WHERE r.task_id = $1 AND (r.seen_run_id = $2 OR (r.state = ANY($3) AND eo.resolved_at IS NULL))) a
			WHERE act IS NOT NULL`, []any{in.TaskID, in.RunID, in.ResolvingStates, resolvedBy}},
		{"lock events", `SELECT id FROM events WHERE id IN (SELECT event_id FROM stage_ticket_acts) ORDER BY id FOR UPDATE`, nil},
		{"resolve", `UPDATE event_occurrences eo SET resolved_at = $1, resolved_by = $2 || a.number
			FROM (SELECT DISTINCT ON (event_id, occurrence_id) * FROM stage_ticket_acts WHERE act = 'resolve' ORDER BY event_id, occurrence_id, number) a
			WHERE eo.event_id = a.event_id AND eo.occurrence_id = a.occurrence_id`, []any{in.Now, resolvedBy}},
		{"unresolve", `UPDATE event_occurrences eo SET resolved_at = NULL, resolved_by = ''
			FROM stage_ticket_acts a WHERE a.act = 'reopen' AND eo.event_id = a.event_id AND eo.occurrence_id = a.occurrence_id`, nil},
		// The events' new status and progress: single-vulnerability events close and reopen,
		// consolidated ones (open) move their progress to resolved / total.
		{"plan events", `CREATE TEMP TABLE stage_event_changes ON COMMIT DROP AS
			SELECT e.id, e.status AS old_status, e.progress AS old_progress, c.total, c.resolved,
				CASE WHEN c.total = 1 AND e.status = 'open' AND bool_or(a.act = 'resolve') THEN 'closed'
				     WHEN c.total = 1 AND e.status = 'closed' AND bool_or(a.act = 'reopen') THEN 'open'
				     ELSE e.status END AS new_status,
				CASE WHEN c.total = 1 AND e.status = 'open' AND bool_or(a.act = 'resolve') THEN 100
				     WHEN c.total = 1 AND e.status = 'closed' AND bool_or(a.act = 'reopen') THEN 0
				     WHEN c.total > 1 AND e.status = 'open' AND bool_or(a.act IN ('resolve', 'reopen')) THEN (c.resolved * 100 / c.total)::smallint
				     ELSE e.progress END AS new_progress
			FROM events e JOIN stage_ticket_acts a ON a.event_id = e.id
				JOIN LATERAL (SELECT count(*) AS total, count(eo.resolved_at) AS resolved FROM event_occurrences eo WHERE eo.event_id = e.id) c ON true
			GROUP BY e.id, e.status, e.progress, c.total, c.resolved`, nil},
		{"update events", `UPDATE events e SET status = c.new_status, progress = c.new_progress, version = e.version + 1, updated_at = $1,
				closed_at = CASE WHEN c.new_status = 'closed' THEN $1 WHEN c.new_status = 'open' THEN NULL ELSE e.closed_at END
			FROM stage_event_changes c WHERE e.id = c.id AND (c.new_status <> c.old_status OR c.new_progress <> c.old_progress)`, []any{in.Now}},
		{"history", `INSERT INTO event_history (event_id, at, actor, actor_kind, run_id, action, changes)
			SELECT id, $1, $2, 'task', $3,
				CASE WHEN new_status = 'closed' AND old_status <> 'closed' THEN 'closed' WHEN new_status = 'open' AND old_status <> 'open' THEN 'reopened' ELSE 'progress' END,
				jsonb_strip_nulls(jsonb_build_object(
					'status', CASE WHEN new_status <> old_status THEN jsonb_build_array(old_status, new_status) END,
					'progress', CASE WHEN new_progress <> old_progress THEN jsonb_build_array(old_progress, new_progress) END))
			FROM stage_event_changes WHERE new_status <> old_status OR new_progress <> old_progress`, []any{in.Now, in.Actor.Name, in.RunID}},
	}
	for _, q := range steps {
		if _, err = tx.Exec(ctx, q.sql, q.args...); err != nil {
			return nil, false, fmt.Errorf("remediation apply (%s): %w", q.what, err)
		}
	}
	// Progress entries: one per ticket act and event occurrence, keyed by the ticket, its
	// state and its modification, so that reading it again adds nothing.
	var entries, comments int64
	if err = tx.QueryRow(ctx, `WITH ins AS (
		INSERT INTO event_progress (event_id, at, author, author_kind, run_id, body, progress, source_key, created_at)
		SELECT a.event_id, COALESCE(a.modified_at, $1), $2, 'task', $3,
			left(format('QID %s on host %s %s: Qualys ticket %s is %s%s', a.qid,
				COALESCE(NULLIF(a.ip, ''), NULLIF(a.dns, ''), a.netbios)
					|| CASE WHEN a.ip <> '' AND COALESCE(NULLIF(a.dns, ''), a.netbios) <> '' THEN ' (' || COALESCE(NULLIF(a.dns, ''), a.netbios) || ')' ELSE '' END,
				CASE a.act WHEN 'resolve' THEN 'resolved' WHEN 'reopen' THEN 'reopened' WHEN 'ignored' THEN 'ignored (accepting the risk is a person''s decision: the event stays as it is)'
					ELSE 'marked resolved, awaiting verification by a rescan' END,
				a.number, a.state,
				CASE WHEN c.new_status <> c.old_status THEN '; the event is ' || c.new_status
				     WHEN c.total > 1 AND a.act IN ('resolve', 'reopen') THEN format('; %s of %s occurrences resolved', c.resolved, c.total) ELSE '' END), $4),
			CASE WHEN a.act IN ('resolve', 'reopen') AND c.new_progress <> c.old_progress THEN c.new_progress END,
			'qualys-ticket:' || a.number || ':' || a.act || ':' || a.occurrence_id || ':' || COALESCE(to_char(a.modified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'), ''),
			$1
		FROM stage_ticket_acts a JOIN stage_event_changes c ON c.id = a.event_id
		ORDER BY a.event_id, a.number, a.occurrence_id
		ON CONFLICT (event_id, source_key) WHERE source_key IS NOT NULL DO NOTHING RETURNING 1)
		SELECT count(*) FROM ins`, in.Now, in.Actor.Name, in.RunID, maxEntry).Scan(&entries); err != nil {
		return nil, false, fmt.Errorf("remediation apply (progress entries): %w", err)
	}
	if err = tx.QueryRow(ctx, `WITH ins AS (
		INSERT INTO event_progress (event_id, at, author, author_kind, run_id, body, progress, source_key, created_at)
		SELECT DISTINCT ON (eo.event_id, c.key) eo.event_id, c.at, $1, 'task', $2, c.body, NULL, c.key, $3
		FROM stage_ticket_comments c JOIN stage_ticket_occ o ON o.number = c.number JOIN event_occurrences eo ON eo.occurrence_id = o.occurrence_id
		ORDER BY eo.event_id, c.key
		ON CONFLICT (event_id, source_key) WHERE source_key IS NOT NULL DO NOTHING RETURNING 1)
		SELECT count(*) FROM ins`, in.Actor.Name, in.RunID, in.Now).Scan(&comments); err != nil {
		return nil, false, fmt.Errorf("remediation apply (comments): %w", err)
	}
	var read, unmatched, closed, reopened, progressed, resolvedOcc, reopenedOcc int64
	if err = tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM stage_tickets),
			(SELECT count(*) FROM stage_tickets t WHERE NOT EXISTS (SELECT 1 FROM stage_ticket_occ o WHERE o.number = t.number)),
			(SELECT count(*) FROM stage_event_changes WHERE new_status = 'closed' AND old_status <> 'closed'),
			(SELECT count(*) FROM stage_event_changes WHERE new_status = 'open' AND old_status <> 'open'),
			(SELECT count(*) FROM stage_event_changes WHERE total > 1 AND new_progress <> old_progress),
			(SELECT count(*) FROM stage_ticket_acts WHERE act = 'resolve'),
			(SELECT count(*) FROM stage_ticket_acts WHERE act = 'reopen')`).Scan(
		&read, &unmatched, &closed, &reopened, &progressed, &resolvedOcc, &reopenedOcc); err != nil {
		return nil, false, err
	}
	counts = map[string]int64{"tickets_read": read, "tickets_unmatched": unmatched, "events_closed": closed, "events_reopened": reopened,
		"events_progressed": progressed, "occurrences_resolved": resolvedOcc, "occurrences_reopened": reopenedOcc,
		"progress_added": entries + comments, "comments_copied": comments}
	if _, err = tx.Exec(ctx, `INSERT INTO remediation_sync_state (task_id, watermark, run_id, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (task_id) DO UPDATE SET watermark = EXCLUDED.watermark, run_id = EXCLUDED.run_id, updated_at = EXCLUDED.updated_at`,
		in.TaskID, in.Watermark, in.RunID, in.Now); err != nil {
		return nil, false, err
	}
	if err = st.recordImport(ctx, tx, in.RunID, in.TaskID, counts, in.Now); err != nil {
		return nil, false, err
	}
	return counts, false, tx.Commit(ctx)
}

// UnmatchedTickets describes up to limit tickets that run read without a matching
// occurrence, with the reason, and how many there are.
func (s *Store) UnmatchedTickets(ctx context.Context, taskID, runID uuid.UUID, assetPrefix string, limit int) ([]string, int64, error) {
	var rows []struct {
		Number  int64  `bun:"number"`
		QID     string `bun:"qid"`
		Host    string `bun:"host"`
		HasHost bool   `bun:"has_host"`
	}
	err := s.DB.NewRaw(`SELECT r.number, r.qid, COALESCE(NULLIF(r.ip, ''), NULLIF(r.dns, ''), NULLIF(r.netbios, ''), '(no address)') AS host,
			EXISTS (SELECT 1 FROM assets a WHERE starts_with(a.identity_key, ?) AND ((r.ip <> '' AND r.ip = ANY(a.ip_addresses))
				OR (r.ip = '' AND r.dns <> '' AND a.dns = r.dns) OR (r.ip = '' AND r.dns = '' AND r.netbios <> '' AND upper(a.netbios) = upper(r.netbios)))) AS has_host
		FROM remediation_tickets r WHERE r.task_id = ? AND r.seen_run_id = ? AND cardinality(r.occurrence_ids) = 0
		ORDER BY r.number LIMIT ?`, assetPrefix, taskID, runID, limit).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, err
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		why := "no imported asset of this Qualys server has that address"
		if r.HasHost {
			why = "the host is imported, but no occurrence of this QID on it is (run Import Vulnerabilities from Qualys Scanner)"
		}
		out = append(out, fmt.Sprintf("ticket %d: QID %s on host %s: %s", r.Number, r.QID, r.Host, why))
	}
	var total int64
	if err := s.DB.NewRaw("SELECT count(*) FROM remediation_tickets WHERE task_id = ? AND seen_run_id = ? AND cardinality(occurrence_ids) = 0",
		taskID, runID).Scan(ctx, &total); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}
