package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/tributary-io/tributary/scanner"
)

// Record states.
const (
	RecordUnmapped = "unmapped"
	RecordMapped   = "mapped"
	RecordIgnored  = "ignored"
)

// RecordStates lists the record states.
var RecordStates = []string{RecordUnmapped, RecordMapped, RecordIgnored}

// GlobalEngagement is the name of the engagement that Sync creates under a mapped product.
const GlobalEngagement = "Global Connectors"

// Connector is a configured link to one vendor tool.
type Connector struct {
	bun.BaseModel `bun:"table:connectors,alias:c"`

	ID               uuid.UUID       `bun:"id,pk,type:uuid"`
	ToolType         string          `bun:"tool_type,notnull"`
	Name             string          `bun:"name,notnull"`
	Description      string          `bun:"description,notnull"`
	BaseURL          string          `bun:"base_url,notnull"`
	Config           json.RawMessage `bun:"config,type:jsonb,notnull"`
	DiscoverSchedule string          `bun:"discover_schedule,notnull"`
	SyncSchedule     string          `bun:"sync_schedule,notnull"`
	Timezone         string          `bun:"timezone,notnull"`
	Enabled          bool            `bun:"enabled,notnull"`
	CreatedAt        time.Time       `bun:"created_at,notnull"`
	UpdatedAt        time.Time       `bun:"updated_at,notnull"`
}

// Record is a vendor-equivalent product found by Discover.
type Record struct {
	bun.BaseModel `bun:"table:connector_records,alias:r"`

	ID              uuid.UUID  `bun:"id,pk,type:uuid"`
	ConnectorID     uuid.UUID  `bun:"connector_id,type:uuid,notnull"`
	VendorID        string     `bun:"vendor_id,notnull"`
	VendorKind      string     `bun:"vendor_kind,notnull"`
	Name            string     `bun:"name,notnull"`
	State           string     `bun:"state,notnull"`
	ProductID       *uuid.UUID `bun:"product_id,type:uuid"`
	VendorMissing   bool       `bun:"vendor_missing,notnull"`
	MissingSince    *time.Time `bun:"missing_since"`
	FirstSeenAt     time.Time  `bun:"first_seen_at,notnull"`
	LastSeenAt      time.Time  `bun:"last_seen_at,notnull"`
	LastDiscoverRun *uuid.UUID `bun:"last_discover_run,type:uuid"`
	CreatedRun      *uuid.UUID `bun:"created_run,type:uuid"`
	RenamedRun      *uuid.UUID `bun:"renamed_run,type:uuid"`
	MissingRun      *uuid.UUID `bun:"missing_run,type:uuid"`
	ReturnedRun     *uuid.UUID `bun:"returned_run,type:uuid"`
	LastSyncRun     *uuid.UUID `bun:"last_sync_run,type:uuid"`
	LastSyncAt      *time.Time `bun:"last_sync_at"`
	LastSyncStatus  string     `bun:"last_sync_status,notnull"`
	LastSyncError   string     `bun:"last_sync_error,notnull"`
	CreatedAt       time.Time  `bun:"created_at,notnull"`
	UpdatedAt       time.Time  `bun:"updated_at,notnull"`
	// ProductName is filled by listings.
	ProductName string `bun:"product_name,scanonly"`
}

// Product groups findings, as in DefectDojo.
type Product struct {
	bun.BaseModel `bun:"table:products,alias:p"`

	ID          uuid.UUID `bun:"id,pk,type:uuid"`
	Name        string    `bun:"name,notnull"`
	Description string    `bun:"description,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
	UpdatedAt   time.Time `bun:"updated_at,notnull"`
}

// Engagement is a product's engagement; Sync uses "Global Connectors".
type Engagement struct {
	bun.BaseModel `bun:"table:engagements,alias:e"`

	ID        uuid.UUID `bun:"id,pk,type:uuid"`
	ProductID uuid.UUID `bun:"product_id,type:uuid,notnull"`
	Name      string    `bun:"name,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// Test holds one connector's findings inside an engagement.
type Test struct {
	bun.BaseModel `bun:"table:tests,alias:t"`

	ID           uuid.UUID `bun:"id,pk,type:uuid"`
	EngagementID uuid.UUID `bun:"engagement_id,type:uuid,notnull"`
	ConnectorID  uuid.UUID `bun:"connector_id,type:uuid,notnull"`
	Title        string    `bun:"title,notnull"`
	TestType     string    `bun:"test_type,notnull"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
	// ProductID is filled by listings.
	ProductID uuid.UUID `bun:"product_id,type:uuid,scanonly"`
}

// Finding is one finding of a test.
type Finding struct {
	bun.BaseModel `bun:"table:findings,alias:f"`

	ID             int64      `bun:"id,pk,autoincrement"`
	TestID         uuid.UUID  `bun:"test_id,type:uuid,notnull"`
	RecordID       uuid.UUID  `bun:"record_id,type:uuid,notnull"`
	Identity       string     `bun:"identity,notnull"`
	Title          string     `bun:"title,notnull"`
	Severity       string     `bun:"severity,notnull"`
	VendorSeverity string     `bun:"vendor_severity,notnull"`
	VendorID       string     `bun:"vendor_id,notnull"`
	CVEs           []string   `bun:"cves,array,notnull"`
	Host           string     `bun:"host,notnull"`
	IP             string     `bun:"ip,notnull"`
	Port           *int32     `bun:"port"`
	Protocol       string     `bun:"protocol,notnull"`
	Description    string     `bun:"description,notnull"`
	Solution       string     `bun:"solution,notnull"`
	Evidence       string     `bun:"evidence,notnull"`
	FirstSeen      *time.Time `bun:"first_seen"`
	LastSeen       *time.Time `bun:"last_seen"`
	Active         bool       `bun:"active,notnull"`
	// Status is open, risk_accepted, not_vulnerable or mitigated; only open findings are active.
	Status          string     `bun:"status,notnull"`
	VendorStatus    string     `bun:"vendor_status,notnull"`
	DetectionType   string     `bun:"detection_type,notnull"`
	UniqueVulnID    string     `bun:"unique_vuln_id,notnull"`
	AssetVendorID   string     `bun:"asset_vendor_id,notnull"`
	QDS             *int32     `bun:"qds"`
	TimesFound      *int32     `bun:"times_found"`
	LastFixed       *time.Time `bun:"last_fixed"`
	DescriptionHTML string     `bun:"description_html,notnull"`
	SolutionHTML    string     `bun:"solution_html,notnull"`
	EvidenceHTML    string     `bun:"evidence_html,notnull"`
	// AssetID is the asset the finding was found on, nil for findings older than asset links.
	AssetID       *uuid.UUID `bun:"asset_id,type:uuid"`
	ContentHash   string     `bun:"content_hash,notnull"`
	CreatedAt     time.Time  `bun:"created_at,notnull"`
	UpdatedAt     time.Time  `bun:"updated_at,notnull"`
	InactivatedAt *time.Time `bun:"inactivated_at"`
	// ProductID is filled by listings.
	ProductID uuid.UUID `bun:"product_id,type:uuid,scanonly"`
	// KnownExploited is filled by listings: the current KEV catalogue lists a CVE of it.
	KnownExploited bool `bun:"known_exploited,scanonly"`
}

// TestImport is one reimport of one record into a test.
type TestImport struct {
	bun.BaseModel `bun:"table:test_imports,alias:ti"`

	ID          uuid.UUID `bun:"id,pk,type:uuid"`
	TestID      uuid.UUID `bun:"test_id,type:uuid,notnull"`
	RecordID    uuid.UUID `bun:"record_id,type:uuid,notnull"`
	RunID       uuid.UUID `bun:"run_id,type:uuid,notnull"`
	StartedAt   time.Time `bun:"started_at,notnull"`
	AppliedAt   time.Time `bun:"applied_at,notnull"`
	Total       int64     `bun:"total,notnull"`
	Created     int64     `bun:"created,notnull"`
	Updated     int64     `bun:"updated,notnull"`
	Reactivated int64     `bun:"reactivated,notnull"`
	Inactivated int64     `bun:"inactivated,notnull"`
	Unchanged   int64     `bun:"unchanged,notnull"`
	// Excepted counts the findings the vendor reported under an exception or as not vulnerable.
	Excepted int64 `bun:"excepted,notnull"`
}

// Counts returns the import's counts by name.
func (ti *TestImport) Counts() map[string]int64 {
	return map[string]int64{"total": ti.Total, "created": ti.Created, "updated": ti.Updated,
		"reactivated": ti.Reactivated, "inactivated": ti.Inactivated, "unchanged": ti.Unchanged, "excepted": ti.Excepted}
}

// FindingAction is what one import did to a finding.
type FindingAction struct {
	bun.BaseModel `bun:"table:finding_actions,alias:fa"`

	FindingID int64     `bun:"finding_id,notnull"`
	ImportID  uuid.UUID `bun:"import_id,type:uuid,notnull"`
	Action    string    `bun:"action,notnull"`
	// Filled by the history listing.
	RunID     uuid.UUID `bun:"run_id,type:uuid,scanonly"`
	AppliedAt time.Time `bun:"applied_at,scanonly"`
}

// Connectors reads and writes connectors, their records, and the product hierarchy.
type Connectors struct{ db bun.IDB }

// Get returns the connector with id, or ErrNotFound.
func (s *Connectors) Get(ctx context.Context, id uuid.UUID) (*Connector, error) {
	c := new(Connector)
	return c, mapError(s.db.NewSelect().Model(c).Where("id = ?", id).Scan(ctx))
}

// GetForUpdate returns the connector with id, locked until the transaction ends.
func (s *Connectors) GetForUpdate(ctx context.Context, id uuid.UUID) (*Connector, error) {
	c := new(Connector)
	return c, mapError(s.db.NewSelect().Model(c).Where("id = ?", id).For("UPDATE").Scan(ctx))
}

// List returns every connector ordered by name.
func (s *Connectors) List(ctx context.Context) ([]Connector, error) {
	var out []Connector
	return out, mapError(s.db.NewSelect().Model(&out).OrderExpr("lower(name), id").Scan(ctx))
}

// Insert stores a new connector.
func (s *Connectors) Insert(ctx context.Context, c *Connector) error {
	_, err := s.db.NewInsert().Model(c).Exec(ctx)
	return mapError(err)
}

// Update replaces every mutable column of c.
func (s *Connectors) Update(ctx context.Context, c *Connector) error {
	res, err := s.db.NewUpdate().Model(c).
		Column("name", "description", "base_url", "config", "discover_schedule", "sync_schedule", "timezone", "enabled", "updated_at").
		WherePK().Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Delete removes the connector with id, its records, tests and findings. Run history stays.
func (s *Connectors) Delete(ctx context.Context, id uuid.UUID) error {
	res, err := s.db.NewDelete().Model((*Connector)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DiscoverCounts says what a Discover changed.
type DiscoverCounts struct {
	Found    int64 `json:"found"`
	Created  int64 `json:"created"`
	Renamed  int64 `json:"renamed"`
	Missing  int64 `json:"missing"`
	Returned int64 `json:"returned"`
}

// ApplyDiscovery upserts the records of products found by a Discover run of connector, in one
// transaction: new ones are created unmapped, renamed ones take the new name, records whose
// vendor object was not found are marked vendor_missing, and returning ones are unmarked.
// Applying the same discovery twice (a retried activity) changes nothing the second time.
func (s *Connectors) ApplyDiscovery(ctx context.Context, connectorID, runID uuid.UUID, products []scanner.Product, now time.Time) (DiscoverCounts, error) {
	var c DiscoverCounts
	c.Found = int64(len(products))
	ids, names, kinds, newIDs := make([]string, len(products)), make([]string, len(products)), make([]string, len(products)), make([]uuid.UUID, len(products))
	for i, p := range products {
		ids[i], names[i], kinds[i], newIDs[i] = p.ID, p.Name, p.Kind, uuid.New()
	}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// Lock the connector's records against a concurrent Discover of the same connector
		// started outside its exclusivity key (never by Tributary itself).
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(?))", "discover:"+connectorID.String()); err != nil {
			return err
		}
		_, err := tx.NewRaw(`
			WITH found AS (
				SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::uuid[]) AS f(vendor_id, name, kind, new_id)
			)
			INSERT INTO connector_records AS r (id, connector_id, vendor_id, vendor_kind, name, state, first_seen_at, last_seen_at,
				last_discover_run, created_run, created_at, updated_at)
			SELECT f.new_id, ?, f.vendor_id, f.kind, f.name, 'unmapped', ?, ?, ?, ?, ?, ?
			FROM found f
			ON CONFLICT (connector_id, vendor_id) DO UPDATE SET
				name = excluded.name, last_seen_at = excluded.last_seen_at, last_discover_run = excluded.last_discover_run,
				renamed_run = CASE WHEN r.name <> excluded.name THEN excluded.last_discover_run ELSE r.renamed_run END,
				returned_run = CASE WHEN r.vendor_missing THEN excluded.last_discover_run ELSE r.returned_run END,
				vendor_missing = false, missing_since = NULL,
				updated_at = CASE WHEN r.name <> excluded.name OR r.vendor_missing THEN excluded.updated_at ELSE r.updated_at END`,
			pgdialect.Array(ids), pgdialect.Array(names), pgdialect.Array(kinds), pgdialect.Array(newIDs),
			connectorID, now, now, runID, runID, now, now).Exec(ctx)
		if err != nil {
			return err
		}
		_, err = tx.NewUpdate().Model((*Record)(nil)).
			Set("vendor_missing = true, missing_since = ?, missing_run = ?, updated_at = ?", now, runID, now).
			Where("connector_id = ? AND NOT vendor_missing AND NOT (vendor_id = ANY(?))", connectorID, pgdialect.Array(ids)).
			Exec(ctx)
		if err != nil {
			return err
		}
		return tx.NewRaw(`SELECT count(*) FILTER (WHERE created_run = ?0) AS created,
				count(*) FILTER (WHERE renamed_run = ?0 AND created_run IS DISTINCT FROM ?0) AS renamed,
				count(*) FILTER (WHERE missing_run = ?0 AND vendor_missing) AS missing,
				count(*) FILTER (WHERE returned_run = ?0 AND NOT vendor_missing) AS returned
			FROM connector_records WHERE connector_id = ?1`, runID, connectorID).Scan(ctx, &c.Created, &c.Renamed, &c.Missing, &c.Returned)
	})
	return c, mapError(err)
}

// RecordFilter narrows a record listing.
type RecordFilter struct {
	ConnectorID uuid.UUID
	State       string
	Cursor      string
	Limit       int
}

// ListRecords returns one page of a connector's records ordered by name, and the next cursor.
func (s *Connectors) ListRecords(ctx context.Context, f RecordFilter) ([]Record, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]Record, 0, f.Limit+1)
	q := s.db.NewSelect().Model(&out).ColumnExpr("r.*").ColumnExpr("COALESCE(p.name, '') AS product_name").
		Join("LEFT JOIN products p ON p.id = r.product_id").Where("r.connector_id = ?", f.ConnectorID)
	if f.State != "" {
		q = q.Where("r.state = ?", f.State)
	}
	return pageByName(ctx, q, &out, "r.name", "r.id", f.Cursor, f.Limit,
		func(r Record) nameCursor { return nameCursor{Name: r.Name, ID: r.ID} })
}

// MappedRecords returns a connector's mapped records, ordered by name.
func (s *Connectors) MappedRecords(ctx context.Context, connectorID uuid.UUID) ([]Record, error) {
	var out []Record
	err := s.db.NewSelect().Model(&out).Where("connector_id = ? AND state = ?", connectorID, RecordMapped).
		OrderExpr("name, id").Scan(ctx)
	return out, mapError(err)
}

// GetRecord returns one record of a connector.
func (s *Connectors) GetRecord(ctx context.Context, connectorID, id uuid.UUID) (*Record, error) {
	r := new(Record)
	err := s.db.NewSelect().Model(r).ColumnExpr("r.*").ColumnExpr("COALESCE(p.name, '') AS product_name").
		Join("LEFT JOIN products p ON p.id = r.product_id").
		Where("r.id = ? AND r.connector_id = ?", id, connectorID).Scan(ctx)
	return r, mapError(err)
}

// SetRecordState maps (productID set), unmaps or ignores a record.
func (s *Connectors) SetRecordState(ctx context.Context, connectorID, id uuid.UUID, state string, productID *uuid.UUID, now time.Time) error {
	res, err := s.db.NewUpdate().Model((*Record)(nil)).
		Set("state = ?, product_id = ?, updated_at = ?", state, productID, now).
		Where("id = ? AND connector_id = ?", id, connectorID).Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// NoteRecordSync records the outcome of a record's last sync.
func (s *Connectors) NoteRecordSync(ctx context.Context, id, runID uuid.UUID, status, errText string, at time.Time) error {
	_, err := s.db.NewUpdate().Model((*Record)(nil)).
		Set("last_sync_run = ?, last_sync_at = ?, last_sync_status = ?, last_sync_error = ?", runID, at, status, errText).
		Where("id = ?", id).Exec(ctx)
	return mapError(err)
}

// EnsureProduct returns the product named name, creating it when there is none (names are
// unique regardless of case).
func (s *Connectors) EnsureProduct(ctx context.Context, name string, now time.Time) (*Product, error) {
	p := &Product{ID: uuid.New(), Name: name, CreatedAt: now, UpdatedAt: now}
	if _, err := s.db.NewInsert().Model(p).On("CONFLICT (lower(name)) DO NOTHING").Exec(ctx); err != nil {
		return nil, mapError(err)
	}
	out := new(Product)
	return out, mapError(s.db.NewSelect().Model(out).Where("lower(name) = lower(?)", name).Scan(ctx))
}

// GetProduct returns the product with id.
func (s *Connectors) GetProduct(ctx context.Context, id uuid.UUID) (*Product, error) {
	p := new(Product)
	return p, mapError(s.db.NewSelect().Model(p).Where("id = ?", id).Scan(ctx))
}

// ListProducts returns one page of products ordered by name.
func (s *Connectors) ListProducts(ctx context.Context, cursor string, limit int) ([]Product, string, error) {
	if limit <= 0 {
		limit = 50
	}
	out := make([]Product, 0, limit+1)
	q := s.db.NewSelect().Model(&out)
	return pageByName(ctx, q, &out, "p.name", "p.id", cursor, limit,
		func(p Product) nameCursor { return nameCursor{Name: p.Name, ID: p.ID} })
}

// ListEngagements returns one page of the engagements of a product (of all products when
// productID is nil), ordered by name, and the next page's cursor.
func (s *Connectors) ListEngagements(ctx context.Context, productID *uuid.UUID, cursor string, limit int) ([]Engagement, string, error) {
	if limit <= 0 {
		limit = 50
	}
	out := make([]Engagement, 0, limit+1)
	q := s.db.NewSelect().Model(&out)
	if productID != nil {
		q = q.Where("e.product_id = ?", *productID)
	}
	return pageByName(ctx, q, &out, "e.name", "e.id", cursor, limit,
		func(e Engagement) nameCursor { return nameCursor{Name: e.Name, ID: e.ID} })
}

// TestFilter narrows a test listing.
type TestFilter struct {
	ProductID    *uuid.UUID
	EngagementID *uuid.UUID
	ConnectorID  *uuid.UUID
	Cursor       string
	Limit        int
}

// ListTests returns one page of tests with their product, ordered by title, and the next
// page's cursor.
func (s *Connectors) ListTests(ctx context.Context, f TestFilter) ([]Test, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]Test, 0, f.Limit+1)
	q := s.db.NewSelect().Model(&out).ColumnExpr("t.*").ColumnExpr("e.product_id").
		Join("JOIN engagements e ON e.id = t.engagement_id")
	if f.ProductID != nil {
		q = q.Where("e.product_id = ?", *f.ProductID)
	}
	if f.EngagementID != nil {
		q = q.Where("t.engagement_id = ?", *f.EngagementID)
	}
	if f.ConnectorID != nil {
		q = q.Where("t.connector_id = ?", *f.ConnectorID)
	}
	return pageByName(ctx, q, &out, "t.title", "t.id", f.Cursor, f.Limit,
		func(t Test) nameCursor { return nameCursor{Name: t.Title, ID: t.ID} })
}

// GetTest returns one test with its product.
func (s *Connectors) GetTest(ctx context.Context, id uuid.UUID) (*Test, error) {
	t := new(Test)
	err := s.db.NewSelect().Model(t).ColumnExpr("t.*").ColumnExpr("e.product_id").
		Join("JOIN engagements e ON e.id = t.engagement_id").Where("t.id = ?", id).Scan(ctx)
	return t, mapError(err)
}

// EnsureTest returns the test of connector c under the "Global Connectors" engagement of
// product productID, creating the engagement and the test the first time.
func (s *Connectors) EnsureTest(ctx context.Context, productID uuid.UUID, c *Connector, testType string, now time.Time) (uuid.UUID, error) {
	e := &Engagement{ID: uuid.New(), ProductID: productID, Name: GlobalEngagement, CreatedAt: now}
	if _, err := s.db.NewInsert().Model(e).On("CONFLICT (product_id, name) DO NOTHING").Exec(ctx); err != nil {
		return uuid.Nil, mapError(err)
	}
	var engID uuid.UUID
	if err := s.db.NewSelect().Model((*Engagement)(nil)).Column("id").
		Where("product_id = ? AND name = ?", productID, GlobalEngagement).Scan(ctx, &engID); err != nil {
		return uuid.Nil, mapError(err)
	}
	t := &Test{ID: uuid.New(), EngagementID: engID, ConnectorID: c.ID, Title: c.Name, TestType: testType, CreatedAt: now, UpdatedAt: now}
	if _, err := s.db.NewInsert().Model(t).On("CONFLICT (engagement_id, connector_id) DO NOTHING").Exec(ctx); err != nil {
		return uuid.Nil, mapError(err)
	}
	var testID uuid.UUID
	err := s.db.NewSelect().Model((*Test)(nil)).Column("id").
		Where("engagement_id = ? AND connector_id = ?", engID, c.ID).Scan(ctx, &testID)
	return testID, mapError(err)
}

// FindingFilter narrows a finding listing.
type FindingFilter struct {
	ProductID *uuid.UUID
	TestID    *uuid.UUID
	RecordID  *uuid.UUID
	Active    *bool
	Severity  string
	// Status is open, risk_accepted, not_vulnerable or mitigated.
	Status string
	// AssetID keeps the findings of one asset.
	AssetID *uuid.UUID
	// KnownExploited keeps the findings whose CVEs the KEV catalogue lists (true) or not.
	KnownExploited *bool
	Cursor         string
	Limit          int
}

// SeverityDay is how many findings of each severity were open at the end of a UTC day.
type SeverityDay struct {
	Day    string           `json:"day"`
	Counts map[string]int64 `json:"counts"`
}

// OpenFindingsBySeverity returns, for each of the last days UTC days up to now's, how many
// findings of each severity were open at the day's end: created by then and not inactivated
// by then. It reads each finding's creation and its current inactivation, so a finding
// inactivated and later reactivated counts as open in between; today's figures are exact.
func (s *Connectors) OpenFindingsBySeverity(ctx context.Context, days int, now time.Time) ([]SeverityDay, error) {
	var rows []struct {
		Day      time.Time `bun:"day"`
		Severity string    `bun:"severity"`
		Open     int64     `bun:"open"`
	}
	err := s.db.NewRaw(`
		WITH days AS (
			SELECT generate_series((?::timestamptz AT TIME ZONE 'UTC')::date - (? - 1), (?::timestamptz AT TIME ZONE 'UTC')::date, interval '1 day')::date AS day),
		opened AS (
			SELECT severity, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM findings GROUP BY 1, 2),
		closed AS (
			SELECT severity, (inactivated_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM findings
			WHERE NOT active AND inactivated_at IS NOT NULL GROUP BY 1, 2)
		SELECT d.day, v.severity,
			COALESCE((SELECT sum(n) FROM opened o WHERE o.severity = v.severity AND o.day <= d.day), 0) -
			COALESCE((SELECT sum(n) FROM closed c WHERE c.severity = v.severity AND c.day <= d.day), 0) AS open
		FROM days d CROSS JOIN (VALUES ('Critical'), ('High'), ('Medium'), ('Low'), ('Info')) AS v(severity)
		ORDER BY d.day`, now, days, now).Scan(ctx, &rows)
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]SeverityDay, 0, days)
	for _, r := range rows {
		day := r.Day.Format(time.DateOnly)
		if len(out) == 0 || out[len(out)-1].Day != day {
			out = append(out, SeverityDay{Day: day, Counts: map[string]int64{}})
		}
		out[len(out)-1].Counts[r.Severity] = r.Open
	}
	return out, nil
}

// ListFindings returns one page of findings ordered by ID, and the next page's cursor.
func (s *Connectors) ListFindings(ctx context.Context, f FindingFilter) ([]Finding, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]Finding, 0, f.Limit+1)
	kev := "EXISTS (SELECT 1 FROM known_exploited_current k WHERE k.cve_id = ANY(f.cves))"
	q := s.db.NewSelect().Model(&out).ColumnExpr("f.*").ColumnExpr("e.product_id").ColumnExpr(kev + " AS known_exploited").
		Join("JOIN tests t ON t.id = f.test_id").Join("JOIN engagements e ON e.id = t.engagement_id")
	if f.ProductID != nil {
		q = q.Where("e.product_id = ?", *f.ProductID)
	}
	if f.TestID != nil {
		q = q.Where("f.test_id = ?", *f.TestID)
	}
	if f.RecordID != nil {
		q = q.Where("f.record_id = ?", *f.RecordID)
	}
	if f.Active != nil {
		q = q.Where("f.active = ?", *f.Active)
	}
	if f.Severity != "" {
		q = q.Where("f.severity = ?", f.Severity)
	}
	if f.Status != "" {
		q = q.Where("f.status = ?", f.Status)
	}
	if f.AssetID != nil {
		q = q.Where("f.asset_id = ?", *f.AssetID)
	}
	if f.KnownExploited != nil {
		if *f.KnownExploited {
			q = q.Where(kev)
		} else {
			q = q.Where("NOT " + kev)
		}
	}
	return pageByID(ctx, q, &out, "f.id", "finding", f.Cursor, f.Limit, func(x Finding) int64 { return x.ID })
}

// GetFinding returns one finding.
func (s *Connectors) GetFinding(ctx context.Context, id int64) (*Finding, error) {
	f := new(Finding)
	err := s.db.NewSelect().Model(f).ColumnExpr("f.*").ColumnExpr("e.product_id").
		Join("JOIN tests t ON t.id = f.test_id").Join("JOIN engagements e ON e.id = t.engagement_id").
		Where("f.id = ?", id).Scan(ctx)
	return f, mapError(err)
}

// FindingHistory returns what each import did to a finding, newest first.
func (s *Connectors) FindingHistory(ctx context.Context, id int64) ([]FindingAction, error) {
	var out []FindingAction
	err := s.db.NewSelect().Model(&out).ColumnExpr("fa.*, ti.run_id, ti.applied_at").
		Join("JOIN test_imports ti ON ti.id = fa.import_id").Where("fa.finding_id = ?", id).
		OrderExpr("ti.applied_at DESC, ti.id DESC").Limit(1000).Scan(ctx)
	return out, mapError(err)
}

// ListImports returns the import history of a test, newest first.
func (s *Connectors) ListImports(ctx context.Context, testID uuid.UUID, limit int) ([]TestImport, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []TestImport
	err := s.db.NewSelect().Model(&out).Where("test_id = ?", testID).OrderExpr("applied_at DESC, id DESC").Limit(int64(limit)).Scan(ctx)
	return out, mapError(err)
}

// CountActive counts the active findings of a record in a test.
func (s *Connectors) CountActive(ctx context.Context, testID, recordID uuid.UUID) (int64, error) {
	n, err := s.db.NewSelect().Model((*Finding)(nil)).Where("test_id = ? AND record_id = ? AND active", testID, recordID).Count(ctx)
	return n, mapError(err)
}

// ImportOf returns the import a run applied for a record, or ErrNotFound.
func (s *Connectors) ImportOf(ctx context.Context, runID, recordID uuid.UUID) (*TestImport, error) {
	ti := new(TestImport)
	return ti, mapError(s.db.NewSelect().Model(ti).Where("run_id = ? AND record_id = ?", runID, recordID).Scan(ctx))
}
