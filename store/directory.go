package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/tributary-io/tributary/directory"
)

// Directory object statuses.
const (
	ObjectActive   = "active"
	ObjectDisabled = "disabled"
	ObjectRemoved  = "removed"
)

// DirectoryObject is one imported user, group or computer.
type DirectoryObject struct {
	bun.BaseModel `bun:"table:directory_objects,alias:o"`

	ID           uuid.UUID  `bun:"id,pk,type:uuid"`
	TaskID       uuid.UUID  `bun:"task_id,type:uuid,notnull"`
	Kind         string     `bun:"kind,notnull"`
	ExternalID   string     `bun:"external_id,notnull"`
	DN           string     `bun:"dn,notnull"`
	DNNorm       string     `bun:"dn_norm,notnull"`
	Username     string     `bun:"username,notnull"`
	Email        string     `bun:"email,notnull"`
	Name         string     `bun:"name,notnull"`
	Description  string     `bun:"description,notnull"`
	FQDN         string     `bun:"fqdn,notnull"`
	Hostname     string     `bun:"hostname,notnull"`
	IPAddresses  []string   `bun:"ip_addresses,array,notnull"`
	OS           string     `bun:"os,notnull"`
	OSVersion    string     `bun:"os_version,notnull"`
	Status       string     `bun:"status,notnull"`
	ContentHash  string     `bun:"content_hash,notnull"`
	ModifiedAt   *time.Time `bun:"modified_at"`
	FirstSeenAt  time.Time  `bun:"first_seen_at,notnull"`
	LastSeenAt   time.Time  `bun:"last_seen_at,notnull"`
	CreatedRunID uuid.UUID  `bun:"created_run_id,type:uuid,notnull"`
	ChangedRunID uuid.UUID  `bun:"changed_run_id,type:uuid,notnull"`
	SeenRunID    uuid.UUID  `bun:"seen_run_id,type:uuid,notnull"`
	StatusRunID  *uuid.UUID `bun:"status_run_id,type:uuid"`
	UpdatedAt    time.Time  `bun:"updated_at,notnull"`
	// MemberCount is filled by group listings.
	MemberCount int `bun:"member_count,scanonly"`
}

// DirectoryMember is one member of a group; MemberID is nil while the DN is not imported.
type DirectoryMember struct {
	bun.BaseModel `bun:"table:directory_members,alias:m"`

	GroupID      uuid.UUID  `bun:"group_id,type:uuid,pk"`
	MemberDNNorm string     `bun:"member_dn_norm,pk"`
	MemberDN     string     `bun:"member_dn,notnull"`
	MemberID     *uuid.UUID `bun:"member_id,type:uuid"`
	MemberKind   string     `bun:"member_kind,scanonly"`
	MemberName   string     `bun:"member_name,scanonly"`
}

// SyncState is what an LDAP import task remembers between runs.
type SyncState struct {
	bun.BaseModel `bun:"table:directory_sync_state"`

	TaskID        uuid.UUID  `bun:"task_id,pk,type:uuid"`
	LastFullAt    *time.Time `bun:"last_full_at"`
	LastFullRunID *uuid.UUID `bun:"last_full_run_id,type:uuid"`
	ChangedSince  *time.Time `bun:"changed_since"`
	LastRunID     *uuid.UUID `bun:"last_run_id,type:uuid"`
	UpdatedAt     time.Time  `bun:"updated_at,notnull"`
}

// Directory reads and writes what LDAP import tasks imported.
type Directory struct{ db bun.IDB }

// SyncState returns the task's state, or a zero state when it never completed a run.
func (s *Directory) SyncState(ctx context.Context, taskID uuid.UUID) (SyncState, error) {
	st := SyncState{TaskID: taskID}
	err := s.db.NewSelect().Model(&st).WherePK().Scan(ctx)
	if errors.Is(mapError(err), ErrNotFound) {
		return SyncState{TaskID: taskID}, nil
	}
	return st, err
}

// ImportBatch is one page of objects of one kind, as one run saw them.
type ImportBatch struct {
	TaskID uuid.UUID
	RunID  uuid.UUID
	Now    time.Time
	// Objects are of one kind; an identity seen twice keeps its last entry.
	Objects []directory.Object
}

// UpsertObjects stores a page of objects in one transaction: objects are created or updated by
// identity, a changed group's member list is replaced, and computers are linked to assets. A
// page stored twice by the same run (a retried attempt) leaves the same rows and counts.
func (s *Directory) UpsertObjects(ctx context.Context, b ImportBatch) error {
	if len(b.Objects) == 0 {
		return nil
	}
	objs := dedupe(b.Objects)
	n := len(objs)
	var (
		kinds, exts, dns, norms, users, emails, names, descs, fqdns, hosts, ips, oses, vers, statuses, hashes = make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n)
		modified = make([]*time.Time, n)
	)
	for i, o := range objs {
		status := ObjectActive
		if o.Disabled {
			status = ObjectDisabled
		}
		kinds[i], exts[i], dns[i], norms[i], users[i], emails[i], names[i], descs[i] = o.Kind, o.ExternalID, o.DN, o.DNNorm, o.Username, o.Email, o.Name, o.Description
		fqdns[i], hosts[i], ips[i], oses[i], vers[i], statuses[i], hashes[i] = o.FQDN, o.Hostname, jsonArray(o.IPAddresses), o.OS, o.OSVersion, status, o.Hash()
		modified[i] = o.ModifiedAt
	}
	rows := make([]DirectoryObject, 0, n)
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// A changed object takes this run as changed_run_id; a status change also sets
		// status_run_id. An unchanged object keeps both, so a retried page changes nothing.
		// Columns travel as one array each: one statement to parse whatever the page size.
		err := tx.NewRaw(`INSERT INTO directory_objects AS o (task_id, kind, external_id, dn, dn_norm, username, email, name, description,
				fqdn, hostname, ip_addresses, os, os_version, status, content_hash, modified_at, first_seen_at, last_seen_at,
				created_run_id, changed_run_id, seen_run_id, status_run_id, updated_at)
			SELECT ?0, k, e, dn, dnn, u, em, nm, ds, f, h, ARRAY(SELECT jsonb_array_elements_text(i::jsonb)), os, v, st, hs, md, ?1, ?1,
				?2, ?2, ?2, CASE WHEN st <> 'active' THEN ?2::uuid END, ?1
			FROM unnest(?3::text[], ?4::text[], ?5::text[], ?6::text[], ?7::text[], ?8::text[], ?9::text[], ?10::text[], ?11::text[],
				?12::text[], ?13::text[], ?14::text[], ?15::text[], ?16::text[], ?17::text[], ?18::timestamptz[])
				AS t(k, e, dn, dnn, u, em, nm, ds, f, h, i, os, v, st, hs, md)
			ON CONFLICT (task_id, kind, external_id) DO UPDATE SET
				changed_run_id = CASE WHEN o.content_hash <> EXCLUDED.content_hash OR o.status <> EXCLUDED.status THEN EXCLUDED.changed_run_id ELSE o.changed_run_id END,
				status_run_id = CASE WHEN o.status <> EXCLUDED.status THEN EXCLUDED.seen_run_id ELSE o.status_run_id END,
				updated_at = CASE WHEN o.content_hash <> EXCLUDED.content_hash OR o.status <> EXCLUDED.status THEN EXCLUDED.updated_at ELSE o.updated_at END,
				dn = EXCLUDED.dn, dn_norm = EXCLUDED.dn_norm, username = EXCLUDED.username, email = EXCLUDED.email,
				name = EXCLUDED.name, description = EXCLUDED.description, fqdn = EXCLUDED.fqdn, hostname = EXCLUDED.hostname,
				ip_addresses = EXCLUDED.ip_addresses, os = EXCLUDED.os, os_version = EXCLUDED.os_version,
				status = EXCLUDED.status, content_hash = EXCLUDED.content_hash, modified_at = EXCLUDED.modified_at,
				last_seen_at = EXCLUDED.last_seen_at, seen_run_id = EXCLUDED.seen_run_id
			RETURNING id, external_id, changed_run_id, status`,
			b.TaskID, b.Now, b.RunID, pgdialect.Array(kinds), pgdialect.Array(exts), pgdialect.Array(dns), pgdialect.Array(norms),
			pgdialect.Array(users), pgdialect.Array(emails), pgdialect.Array(names), pgdialect.Array(descs), pgdialect.Array(fqdns),
			pgdialect.Array(hosts), pgdialect.Array(ips), pgdialect.Array(oses), pgdialect.Array(vers), pgdialect.Array(statuses),
			pgdialect.Array(hashes), pgdialect.Array(modified)).Scan(ctx, &rows)
		if err != nil {
			return fmt.Errorf("store %d %s objects: %w", n, objs[0].Kind, err)
		}
		if len(rows) != n {
			return fmt.Errorf("store %d %s objects: %d rows came back", n, objs[0].Kind, len(rows))
		}
		// RETURNING does not promise the input's order: line the rows up with objs.
		at := make(map[string]int, n)
		for i, o := range objs {
			at[o.ExternalID] = i
		}
		ordered := make([]DirectoryObject, n)
		for _, r := range rows {
			ordered[at[r.ExternalID]] = r
		}
		switch objs[0].Kind {
		case directory.KindGroup:
			return replaceMembers(ctx, tx, b.RunID, objs, ordered)
		case directory.KindComputer:
			return linkAssets(ctx, tx, b, objs, ordered)
		}
		return nil
	})
}

func dedupe(objs []directory.Object) []directory.Object {
	idx := make(map[string]int, len(objs))
	out := make([]directory.Object, 0, len(objs))
	for _, o := range objs {
		if i, ok := idx[o.ExternalID]; ok {
			out[i] = o
			continue
		}
		idx[o.ExternalID] = len(out)
		out = append(out, o)
	}
	return out
}

// replaceMembers rewrites the member lists of the groups this run changed (new groups included).
func replaceMembers(ctx context.Context, tx bun.IDB, runID uuid.UUID, objs []directory.Object, rows []DirectoryObject) error {
	var groups []uuid.UUID
	var gids []uuid.UUID
	var norms, dns []string
	for i, r := range rows {
		if r.ChangedRunID != runID {
			continue
		}
		groups = append(groups, r.ID)
		for _, m := range objs[i].Members {
			gids = append(gids, r.ID)
			norms = append(norms, m.DNNorm)
			dns = append(dns, m.DN)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	if _, err := tx.NewDelete().Model((*DirectoryMember)(nil)).Where("group_id IN (?)", bun.In(groups)).Exec(ctx); err != nil {
		return fmt.Errorf("clear members of %d groups: %w", len(groups), err)
	}
	if len(gids) == 0 {
		return nil
	}
	_, err := tx.NewRaw(`INSERT INTO directory_members (group_id, member_dn_norm, member_dn)
		SELECT * FROM unnest(?::uuid[], ?::text[], ?::text[])`,
		pgdialect.Array(gids), pgdialect.Array(norms), pgdialect.Array(dns)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("store %d members: %w", len(gids), err)
	}
	return nil
}

// AssetSourceLDAP is the asset_sources.source_type of LDAP computers.
const AssetSourceLDAP = "ldap"

// linkAssets applies the asset identity rules to a page of computers: a computer already linked
// keeps its asset (renamed or not) and updates it; another is matched by FQDN, else by host
// name, else becomes a new asset.
func linkAssets(ctx context.Context, tx bun.IDB, b ImportBatch, objs []directory.Object, rows []DirectoryObject) error {
	ext := make([]string, len(objs))
	for i, o := range objs {
		ext[i] = o.ExternalID
	}
	var linked []struct {
		ExternalID string    `bun:"external_id"`
		AssetID    uuid.UUID `bun:"asset_id"`
	}
	if err := tx.NewSelect().Table("asset_sources").Column("external_id", "asset_id").
		Where("source_type = ? AND source_id = ? AND external_id IN (?)", AssetSourceLDAP, b.TaskID, bun.In(ext)).
		Scan(ctx, &linked); err != nil {
		return fmt.Errorf("look up linked assets: %w", err)
	}
	assetOf := make(map[string]uuid.UUID, len(linked))
	for _, l := range linked {
		assetOf[l.ExternalID] = l.AssetID
	}
	// New links: create or match assets by identity key.
	keyOf := func(o directory.Object) string {
		if o.FQDN != "" {
			return "fqdn:" + o.FQDN
		}
		return "host:" + o.Hostname
	}
	var (
		keys, fqdns, hosts, oses, versions []string
		ipsJSON                            []string
		seenKey                            = map[string]bool{}
	)
	for _, o := range objs {
		if _, ok := assetOf[o.ExternalID]; ok || seenKey[keyOf(o)] {
			continue
		}
		seenKey[keyOf(o)] = true
		keys = append(keys, keyOf(o))
		fqdns = append(fqdns, o.FQDN)
		hosts = append(hosts, o.Hostname)
		oses = append(oses, o.OS)
		versions = append(versions, o.OSVersion)
		ipsJSON = append(ipsJSON, jsonArray(o.IPAddresses))
	}
	if len(keys) > 0 {
		var got []struct {
			ID          uuid.UUID `bun:"id"`
			IdentityKey string    `bun:"identity_key"`
		}
		err := tx.NewRaw(`INSERT INTO assets AS a (identity_key, fqdn, hostname, ip_addresses, os, os_version, first_seen_at, last_seen_at,
				name, host_address)
			SELECT k, f, h, ARRAY(SELECT jsonb_array_elements_text(i::jsonb)), os, v, ?, ?,
				left(COALESCE(NULLIF(f, ''), h), 400), left(COALESCE(NULLIF(f, ''), h), 100)
			FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) AS t(k, f, h, i, os, v)
			ON CONFLICT (identity_key) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, status = 'active', updated_at = now()
			RETURNING id, identity_key`,
			b.Now, b.Now, pgdialect.Array(keys), pgdialect.Array(fqdns), pgdialect.Array(hosts), pgdialect.Array(ipsJSON),
			pgdialect.Array(oses), pgdialect.Array(versions)).Scan(ctx, &got)
		if err != nil {
			return fmt.Errorf("create or match %d assets: %w", len(keys), err)
		}
		byKey := make(map[string]uuid.UUID, len(got))
		for _, g := range got {
			byKey[g.IdentityKey] = g.ID
		}
		for _, o := range objs {
			if _, ok := assetOf[o.ExternalID]; !ok {
				assetOf[o.ExternalID] = byKey[keyOf(o)]
			}
		}
	}
	// Every computer of the page: refresh its asset and its source link.
	var (
		aids                                     []uuid.UUID
		exts, statuses, fq, hs, ips, osv, osvers []string
	)
	for i, o := range objs {
		aids = append(aids, assetOf[o.ExternalID])
		exts = append(exts, o.ExternalID)
		statuses = append(statuses, rows[i].Status)
		fq = append(fq, o.FQDN)
		hs = append(hs, o.Hostname)
		ips = append(ips, jsonArray(o.IPAddresses))
		osv = append(osv, o.OS)
		osvers = append(osvers, o.OSVersion)
	}
	_, err := tx.NewRaw(`UPDATE assets AS a SET fqdn = t.f, hostname = t.h, ip_addresses = ARRAY(SELECT jsonb_array_elements_text(t.i::jsonb)),
			os = t.os, os_version = t.v, last_seen_at = ?, status = 'active', updated_at = now()
		FROM (SELECT DISTINCT ON (id) * FROM unnest(?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) AS u(id, f, h, i, os, v)) AS t
		WHERE a.id = t.id AND (a.fqdn, a.hostname, a.ip_addresses, a.os, a.os_version, a.status)
			IS DISTINCT FROM (t.f, t.h, ARRAY(SELECT jsonb_array_elements_text(t.i::jsonb)), t.os, t.v, 'active')`,
		b.Now, pgdialect.Array(aids), pgdialect.Array(fq), pgdialect.Array(hs), pgdialect.Array(ips), pgdialect.Array(osv), pgdialect.Array(osvers)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("update %d assets: %w", len(aids), err)
	}
	_, err = tx.NewRaw(`INSERT INTO asset_sources (asset_id, source_type, source_id, external_id, status, last_seen_at)
		SELECT a, ?, ?, e, s, ? FROM unnest(?::uuid[], ?::text[], ?::text[]) AS t(a, e, s)
		ON CONFLICT (source_type, source_id, external_id) DO UPDATE SET status = EXCLUDED.status, last_seen_at = EXCLUDED.last_seen_at`,
		AssetSourceLDAP, b.TaskID, b.Now, pgdialect.Array(aids), pgdialect.Array(exts), pgdialect.Array(statuses)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("link %d computers to assets: %w", len(aids), err)
	}
	return nil
}

func jsonArray(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // strings always marshal
	return string(b)
}

// RemovalGuardError stops a full import from removing objects when the directory's answer
// looks wrong: nothing returned, or more removed than the task allows.
type RemovalGuardError struct {
	Kind     string
	Seen     int
	Active   int
	ToRemove int
	MaxPct   int
}

func (e *RemovalGuardError) Error() string {
	if e.Seen == 0 {
		return fmt.Sprintf("the directory returned no %ss, but %d are imported: refusing to remove them all; check the base DN and filter of %ss (nothing was removed)",
			e.Kind, e.ToRemove, e.Kind)
	}
	return fmt.Sprintf("the full import would remove %d of %d active %ss (%.1f%%), more than max_removal_percent (%d%%): refusing; check the base DN and filter, or raise the limit for a planned clean-up (nothing was removed)",
		e.ToRemove, e.Active, e.Kind, 100*float64(e.ToRemove)/float64(max(e.Active, 1)), e.MaxPct)
}

// FinishImport closes a run of an LDAP import task.
type FinishImport struct {
	TaskID uuid.UUID
	RunID  uuid.UUID
	Now    time.Time
	// Full sweeps objects of Kinds the run did not see (they were removed from the directory).
	Full bool
	// Kinds are the kinds the run imported.
	Kinds []string
	// MaxRemovalPercent caps a sweep; see [RemovalGuardError].
	MaxRemovalPercent int
	// ChangedSince is where the next incremental import starts.
	ChangedSince time.Time
	// Analyze refreshes the planner's statistics first: set it when the run wrote many rows.
	Analyze bool
}

// KindCounts are the counts of one kind in one run.
type KindCounts struct {
	Kind      string `bun:"kind"`
	Seen      int64  `bun:"seen"`
	Created   int64  `bun:"created"`
	Updated   int64  `bun:"updated"`
	Disabled  int64  `bun:"disabled"`
	Removed   int64  `bun:"removed"`
	Unchanged int64  `bun:"unchanged"`
}

// Finish sweeps removed objects (full imports, behind the removal guard), resolves group
// members, retires assets that lost every source, saves the sync state and returns the run's
// counts, all in one transaction. Counts are computed from the rows, so a retried run reports
// what one clean run would.
func (s *Directory) Finish(ctx context.Context, f FinishImport) ([]KindCounts, error) {
	var counts []KindCounts
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if f.Full {
			for _, kind := range f.Kinds {
				var g struct {
					Seen     int `bun:"seen"`
					Active   int `bun:"active"`
					ToRemove int `bun:"to_remove"`
				}
				err := tx.NewRaw(`SELECT count(*) FILTER (WHERE seen_run_id = ?) AS seen,
						count(*) FILTER (WHERE status <> 'removed') AS active,
						count(*) FILTER (WHERE status <> 'removed' AND seen_run_id <> ?) AS to_remove
					FROM directory_objects WHERE task_id = ? AND kind = ?`,
					f.RunID, f.RunID, f.TaskID, kind).Scan(ctx, &g)
				if err != nil {
					return fmt.Errorf("count %ss to remove: %w", kind, err)
				}
				if g.ToRemove == 0 {
					continue
				}
				if g.Seen == 0 || (f.MaxRemovalPercent < 100 && g.ToRemove*100 > f.MaxRemovalPercent*g.Active) {
					return &RemovalGuardError{Kind: kind, Seen: g.Seen, Active: g.Active, ToRemove: g.ToRemove, MaxPct: f.MaxRemovalPercent}
				}
				_, err = tx.NewRaw(`UPDATE directory_objects SET status = 'removed', status_run_id = ?, changed_run_id = ?, updated_at = ?
					WHERE task_id = ? AND kind = ? AND status <> 'removed' AND seen_run_id <> ?`,
					f.RunID, f.RunID, f.Now, f.TaskID, kind, f.RunID).Exec(ctx)
				if err != nil {
					return fmt.Errorf("mark removed %ss: %w", kind, err)
				}
			}
			_, err := tx.NewRaw(`UPDATE asset_sources AS s SET status = 'removed'
				FROM directory_objects o
				WHERE s.source_type = ? AND s.source_id = ? AND o.task_id = s.source_id AND o.kind = 'computer'
					AND o.external_id = s.external_id AND o.status = 'removed' AND s.status <> 'removed'`,
				AssetSourceLDAP, f.TaskID).Exec(ctx)
			if err != nil {
				return fmt.Errorf("unlink removed computers: %w", err)
			}
			_, err = tx.NewRaw(`UPDATE assets AS a SET status = 'retired', updated_at = ?
				WHERE a.status = 'active'
					AND EXISTS (SELECT 1 FROM asset_sources s WHERE s.asset_id = a.id AND s.source_type = ? AND s.source_id = ?)
					AND NOT EXISTS (SELECT 1 FROM asset_sources s WHERE s.asset_id = a.id AND s.status <> 'removed')`,
				f.Now, AssetSourceLDAP, f.TaskID).Exec(ctx)
			if err != nil {
				return fmt.Errorf("retire assets: %w", err)
			}
		}
		// A first import loads tables the planner has no statistics for yet; without them the
		// set-based statements below are planned as nested loops over sequential scans.
		if f.Analyze {
			if _, err := tx.ExecContext(ctx, "ANALYZE directory_objects, directory_members, asset_sources"); err != nil {
				return fmt.Errorf("analyze: %w", err)
			}
		}
		// Resolve every member DN of the task's groups against its current objects: point at
		// the object with that DN, or at nothing once it is removed or gone.
		_, err := tx.NewRaw(`UPDATE directory_members AS m SET member_id = o.id
			FROM directory_objects AS g, directory_objects AS o
			WHERE g.id = m.group_id AND g.task_id = ? AND o.task_id = ? AND o.dn_norm = m.member_dn_norm
				AND o.status <> 'removed' AND m.member_id IS DISTINCT FROM o.id`, f.TaskID, f.TaskID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("resolve group members: %w", err)
		}
		_, err = tx.NewRaw(`UPDATE directory_members AS m SET member_id = NULL
			FROM directory_objects AS g
			WHERE g.id = m.group_id AND g.task_id = ? AND m.member_id IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM directory_objects o
					WHERE o.id = m.member_id AND o.status <> 'removed' AND o.dn_norm = m.member_dn_norm)`, f.TaskID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("unlink members that left the directory: %w", err)
		}
		state := SyncState{TaskID: f.TaskID, ChangedSince: &f.ChangedSince, LastRunID: &f.RunID, UpdatedAt: f.Now}
		q := tx.NewInsert().Model(&state).On("CONFLICT (task_id) DO UPDATE").
			Set("changed_since = EXCLUDED.changed_since, last_run_id = EXCLUDED.last_run_id, updated_at = EXCLUDED.updated_at")
		if f.Full {
			state.LastFullAt, state.LastFullRunID = &f.Now, &f.RunID
			q = q.Set("last_full_at = EXCLUDED.last_full_at, last_full_run_id = EXCLUDED.last_full_run_id")
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("save sync state: %w", err)
		}
		err = tx.NewRaw(`SELECT kind,
				count(*) FILTER (WHERE seen_run_id = ?0) AS seen,
				count(*) FILTER (WHERE created_run_id = ?0) AS created,
				count(*) FILTER (WHERE changed_run_id = ?0 AND created_run_id <> ?0 AND seen_run_id = ?0) AS updated,
				count(*) FILTER (WHERE status_run_id = ?0 AND status = 'disabled') AS disabled,
				count(*) FILTER (WHERE status_run_id = ?0 AND status = 'removed') AS removed,
				count(*) FILTER (WHERE seen_run_id = ?0 AND changed_run_id <> ?0) AS unchanged
			FROM directory_objects WHERE task_id = ?1 AND (seen_run_id = ?0 OR changed_run_id = ?0 OR status_run_id = ?0)
			GROUP BY kind ORDER BY kind`, f.RunID, f.TaskID).Scan(ctx, &counts)
		if err != nil {
			return fmt.Errorf("count the run's changes: %w", err)
		}
		return nil
	})
	return counts, err
}

// ObjectFilter narrows a listing of directory objects.
type ObjectFilter struct {
	Kind   string
	TaskID *uuid.UUID
	Status string
	// Query matches username, name, email, FQDN or host name, case-insensitively, as a substring.
	Query  string
	Cursor string
	Limit  int
}

type nameCursor struct {
	Name string    `json:"n"`
	ID   uuid.UUID `json:"i"`
}

// ListObjects returns one page of objects ordered by name, and the next page's cursor.
func (s *Directory) ListObjects(ctx context.Context, f ObjectFilter) ([]DirectoryObject, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]DirectoryObject, 0, f.Limit+1)
	q := s.db.NewSelect().Model(&out).Where("o.kind = ?", f.Kind)
	if f.Kind == directory.KindGroup {
		q = q.ColumnExpr("o.*").ColumnExpr("(SELECT count(*) FROM directory_members m WHERE m.group_id = o.id) AS member_count")
	}
	if f.TaskID != nil {
		q = q.Where("o.task_id = ?", *f.TaskID)
	}
	if f.Status != "" {
		q = q.Where("o.status = ?", f.Status)
	}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("o.username ILIKE ?", like).WhereOr("o.name ILIKE ?", like).WhereOr("o.email ILIKE ?", like).
				WhereOr("o.fqdn ILIKE ?", like).WhereOr("o.hostname ILIKE ?", like)
		})
	}
	return pageByName(ctx, q, &out, "o.name", "o.id", f.Cursor, f.Limit,
		func(o DirectoryObject) nameCursor { return nameCursor{Name: o.Name, ID: o.ID} })
}

// pageByName scans into out one page of q ordered by (nameCol, idCol), continuing after
// cursor, and returns it with the next page's cursor ("" at the end).
func pageByName[T any](ctx context.Context, q *bun.SelectQuery, out *[]T, nameCol, idCol, cursor string, limit int, key func(T) nameCursor) ([]T, string, error) {
	if cursor != "" {
		var c nameCursor
		if err := decodeCursor(cursor, &c, func() bool { return c.ID != uuid.Nil }, "listing"); err != nil {
			return nil, "", err
		}
		q = q.Where("(?, ?) > (?, ?)", bun.Ident(nameCol), bun.Ident(idCol), c.Name, c.ID)
	}
	if err := q.OrderExpr("?, ?", bun.Ident(nameCol), bun.Ident(idCol)).Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, "", mapError(err)
	}
	page := *out
	if len(page) <= limit {
		return page, "", nil
	}
	page = page[:limit]
	return page, encodeCursor(key(page[len(page)-1])), nil
}

// GetObject returns one object of kind.
func (s *Directory) GetObject(ctx context.Context, kind string, id uuid.UUID) (*DirectoryObject, error) {
	o := new(DirectoryObject)
	q := s.db.NewSelect().Model(o).Where("o.id = ? AND o.kind = ?", id, kind)
	if kind == directory.KindGroup {
		q = q.ColumnExpr("o.*").ColumnExpr("(SELECT count(*) FROM directory_members m WHERE m.group_id = o.id) AS member_count")
	}
	return o, mapError(q.Scan(ctx))
}

type dnCursor struct {
	DN string `json:"d"`
}

// ListMembers returns one page of a group's members ordered by DN, and the next page's cursor.
func (s *Directory) ListMembers(ctx context.Context, groupID uuid.UUID, cursor string, limit int) ([]DirectoryMember, string, error) {
	if limit <= 0 {
		limit = 50
	}
	out := make([]DirectoryMember, 0, limit+1)
	q := s.db.NewSelect().Model(&out).ColumnExpr("m.*").
		ColumnExpr("COALESCE(x.kind, '') AS member_kind, COALESCE(x.name, '') AS member_name").
		Join("LEFT JOIN directory_objects AS x ON x.id = m.member_id").
		Where("m.group_id = ?", groupID)
	if cursor != "" {
		var c dnCursor
		if err := decodeCursor(cursor, &c, func() bool { return c.DN != "" }, "member"); err != nil {
			return nil, "", err
		}
		q = q.Where("m.member_dn_norm > ?", c.DN)
	}
	if err := q.OrderExpr("m.member_dn_norm").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(dnCursor{DN: out[len(out)-1].MemberDNNorm})
	}
	return out, next, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
