package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// Asset is one technology asset shared by every import, with the Modulo properties.
type Asset struct {
	bun.BaseModel `bun:"table:assets,alias:a"`

	ID          uuid.UUID `bun:"id,pk,type:uuid"`
	IdentityKey string    `bun:"identity_key,notnull"`
	Name        string    `bun:"name,notnull"`
	AssetType   string    `bun:"asset_type,notnull"`
	Description string    `bun:"description,notnull"`
	HostAddress string    `bun:"host_address,notnull"`
	FQDN        string    `bun:"fqdn,notnull"`
	Hostname    string    `bun:"hostname,notnull"`
	DNS         string    `bun:"dns,notnull"`
	NetBIOS     string    `bun:"netbios,notnull"`
	IPAddresses []string  `bun:"ip_addresses,array,notnull"`
	OS          string    `bun:"os,notnull"`
	OSVersion   string    `bun:"os_version,notnull"`
	Relevance   int       `bun:"relevance,notnull"`
	Criticality *int      `bun:"criticality"`
	Responsible string    `bun:"responsible,notnull"`
	Source      string    `bun:"source,notnull"`
	VendorID    string    `bun:"vendor_id,notnull"`
	// EditedFields are the properties an admin changed; imports keep them unless told otherwise.
	EditedFields []string  `bun:"edited_fields,array,notnull"`
	ContentHash  string    `bun:"content_hash,notnull"`
	Status       string    `bun:"status,notnull"`
	FirstSeenAt  time.Time `bun:"first_seen_at,notnull"`
	LastSeenAt   time.Time `bun:"last_seen_at,notnull"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
	// Computed by the queries: sources ("qualys:active"), open occurrences, the risk score
	// (the sum of the open occurrences' probability x level x relevance) and findings.
	Sources         []string `bun:"sources,array,scanonly"`
	OpenOccurrences int64    `bun:"open_occurrences,scanonly"`
	RiskScore       int64    `bun:"risk_score,scanonly"`
	ActiveFindings  int64    `bun:"active_findings,scanonly"`
}

// AssetFilter narrows an asset listing.
type AssetFilter struct {
	Status string
	// Source is the asset's source: ldap, qualys, nexpose, xml.
	Source string
	// MinCriticality keeps assets whose criticality is at least this, when set.
	MinCriticality *int
	// Query matches name, FQDN, host name or host address as a substring, case-insensitively.
	Query  string
	Cursor string
	Limit  int
}

// assetColumns are the computed columns of an asset.
func assetColumns(q *bun.SelectQuery) *bun.SelectQuery {
	return q.ColumnExpr("a.*").
		ColumnExpr("ARRAY(SELECT s.source_type || ':' || s.status FROM asset_sources s WHERE s.asset_id = a.id ORDER BY 1) AS sources").
		ColumnExpr(`(SELECT count(*) FROM vulnerability_occurrences o WHERE o.asset_id = a.id AND o.status = 'open') AS open_occurrences`).
		ColumnExpr(`(SELECT COALESCE(sum(o.probability * COALESCE(v.level, 1) * a.relevance), 0) FROM vulnerability_occurrences o
			JOIN vulnerabilities v ON v.id = o.vulnerability_id WHERE o.asset_id = a.id AND o.status = 'open') AS risk_score`).
		ColumnExpr(`(SELECT count(*) FROM findings f WHERE f.asset_id = a.id AND f.active) AS active_findings`)
}

// ListAssets returns one page of assets ordered by name, and the next page's cursor.
func (s *Directory) ListAssets(ctx context.Context, f AssetFilter) ([]Asset, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]Asset, 0, f.Limit+1)
	q := assetColumns(s.db.NewSelect().Model(&out))
	if f.Status != "" {
		q = q.Where("a.status = ?", f.Status)
	}
	if f.Source != "" {
		q = q.Where("a.source = ?", f.Source)
	}
	if f.MinCriticality != nil {
		q = q.Where("a.criticality >= ?", *f.MinCriticality)
	}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("a.name ILIKE ?", like).WhereOr("a.fqdn ILIKE ?", like).WhereOr("a.hostname ILIKE ?", like).WhereOr("a.host_address ILIKE ?", like)
		})
	}
	return pageByName(ctx, q, &out, "a.name", "a.id", f.Cursor, f.Limit,
		func(a Asset) nameCursor { return nameCursor{Name: a.Name, ID: a.ID} })
}

// GetAsset returns one asset with its computed columns.
func (s *Directory) GetAsset(ctx context.Context, id uuid.UUID) (*Asset, error) {
	a := new(Asset)
	return a, mapError(assetColumns(s.db.NewSelect().Model(a)).Where("a.id = ?", id).Scan(ctx))
}

// AssetEdit is an admin's change of asset properties; nil fields stay as they are.
type AssetEdit struct {
	Name        *string
	AssetType   *string
	Description *string
	HostAddress *string
	Relevance   *int
	Criticality *int
	// ClearCriticality removes the criticality.
	ClearCriticality bool
	Responsible      *string
}

// UpdateAsset applies an admin's edit and records the edited properties, which imports then
// keep (unless a task overwrites local edits).
func (s *Directory) UpdateAsset(ctx context.Context, id uuid.UUID, e AssetEdit, now time.Time) error {
	q := s.db.NewUpdate().Table("assets").Where("id = ?", id).Set("updated_at = ?", now)
	var edited []string
	set := func(col string, v any) {
		q = q.Set("? = ?", bun.Ident(col), v)
		edited = append(edited, col)
	}
	if e.Name != nil {
		set("name", *e.Name)
	}
	if e.AssetType != nil {
		set("asset_type", *e.AssetType)
	}
	if e.Description != nil {
		set("description", *e.Description)
	}
	if e.HostAddress != nil {
		set("host_address", *e.HostAddress)
	}
	if e.Relevance != nil {
		set("relevance", *e.Relevance)
	}
	if e.Criticality != nil {
		set("criticality", *e.Criticality)
	} else if e.ClearCriticality {
		set("criticality", nil)
	}
	if e.Responsible != nil {
		set("responsible", *e.Responsible)
	}
	q = q.Set("edited_fields = ARRAY(SELECT DISTINCT unnest(edited_fields || ?::text[]) ORDER BY 1)", pgdialect.Array(edited))
	res, err := q.Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Occurrence is a vulnerability found on an asset, with its vulnerability and asset.
type Occurrence struct {
	bun.BaseModel `bun:"table:vulnerability_occurrences,alias:o"`

	ID              int64      `bun:"id,pk"`
	TaskID          uuid.UUID  `bun:"task_id,type:uuid"`
	Identity        string     `bun:"identity"`
	AssetID         uuid.UUID  `bun:"asset_id,type:uuid"`
	VulnerabilityID int64      `bun:"vulnerability_id"`
	Source          string     `bun:"source"`
	Port            *int32     `bun:"port"`
	Protocol        string     `bun:"protocol"`
	Instance        string     `bun:"instance"`
	Status          string     `bun:"status"`
	DetectionType   string     `bun:"detection_type"`
	VendorStatus    string     `bun:"vendor_status"`
	Evidence        string     `bun:"evidence"`
	Probability     int        `bun:"probability"`
	FirstFound      *time.Time `bun:"first_found"`
	LastFound       *time.Time `bun:"last_found"`
	TimesFound      *int32     `bun:"times_found"`
	CreatedAt       time.Time  `bun:"created_at"`
	UpdatedAt       time.Time  `bun:"updated_at"`
	ClosedAt        *time.Time `bun:"closed_at"`
	ExpiredAt       *time.Time `bun:"expired_at"`
	ContentHash     string     `bun:"content_hash"`
	// From the joins.
	AssetName string `bun:"asset_name,scanonly"`
	VendorID  string `bun:"vendor_id,scanonly"`
	Title     string `bun:"title,scanonly"`
	Level     *int   `bun:"level,scanonly"`
	RiskScore int64  `bun:"risk_score,scanonly"`
	// KnownExploited says whether the current KEV catalogue lists a CVE of the vulnerability.
	KnownExploited bool `bun:"known_exploited,scanonly"`
	// Tickets are the numbers of the Qualys remediation tickets of the occurrence.
	Tickets []int64 `bun:"tickets,array,scanonly"`
}

// OccurrenceFilter narrows an occurrence listing.
type OccurrenceFilter struct {
	AssetID         *uuid.UUID
	VulnerabilityID *int64
	TaskID          *uuid.UUID
	Status          string
	// KnownExploited keeps the occurrences of vulnerabilities the KEV catalogue lists (true)
	// or does not (false).
	KnownExploited *bool
	Cursor         string
	Limit          int
}

// ListOccurrences returns one page of occurrences ordered by ID.
func (s *Directory) ListOccurrences(ctx context.Context, f OccurrenceFilter) ([]Occurrence, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]Occurrence, 0, f.Limit+1)
	q := s.db.NewSelect().Model(&out).ColumnExpr("o.*").ColumnExpr("a.name AS asset_name, v.vendor_id, v.title, v.level").
		ColumnExpr("CASE WHEN o.status = 'open' THEN o.probability * COALESCE(v.level, 1) * a.relevance ELSE 0 END AS risk_score").
		ColumnExpr("ARRAY(SELECT t.number FROM remediation_tickets t WHERE t.occurrence_ids @> ARRAY[o.id] ORDER BY t.number) AS tickets").
		ColumnExpr("EXISTS (SELECT 1 " + kevMatch + ") AS known_exploited").
		Join("JOIN assets a ON a.id = o.asset_id").Join("JOIN vulnerabilities v ON v.id = o.vulnerability_id")
	if f.AssetID != nil {
		q = q.Where("o.asset_id = ?", *f.AssetID)
	}
	if f.VulnerabilityID != nil {
		q = q.Where("o.vulnerability_id = ?", *f.VulnerabilityID)
	}
	if f.TaskID != nil {
		q = q.Where("o.task_id = ?", *f.TaskID)
	}
	if f.Status != "" {
		q = q.Where("o.status = ?", f.Status)
	}
	if f.KnownExploited != nil {
		cond := "EXISTS (SELECT 1 " + kevMatch + ")"
		if !*f.KnownExploited {
			cond = "NOT " + cond
		}
		q = q.Where(cond)
	}
	return pageByID(ctx, q, &out, "o.id", "occurrence", f.Cursor, f.Limit, func(o Occurrence) int64 { return o.ID })
}

// Vulnerability is one entry of the vulnerability catalogue.
type Vulnerability struct {
	bun.BaseModel `bun:"table:vulnerabilities,alias:v"`

	ID              int64     `bun:"id,pk"`
	Source          string    `bun:"source"`
	Scope           string    `bun:"scope"`
	VendorID        string    `bun:"vendor_id"`
	Title           string    `bun:"title"`
	Level           *int      `bun:"level"`
	Severity        string    `bun:"severity"`
	VendorSeverity  string    `bun:"vendor_severity"`
	CVEs            []string  `bun:"cves,array"`
	Description     string    `bun:"description"`
	Solution        string    `bun:"solution"`
	DescriptionHTML string    `bun:"description_html"`
	SolutionHTML    string    `bun:"solution_html"`
	ContentHash     string    `bun:"content_hash"`
	CreatedAt       time.Time `bun:"created_at"`
	UpdatedAt       time.Time `bun:"updated_at"`
	OpenOccurrences int64     `bun:"open_occurrences,scanonly"`
	// KEVDateAdded, KEVDueDate and KEVRansomware come from the current Known Exploited
	// Vulnerabilities catalogue for the entry's CVEs (nil when none is listed).
	KEVDateAdded  *time.Time `bun:"kev_date_added,scanonly"`
	KEVDueDate    *time.Time `bun:"kev_due_date,scanonly"`
	KEVRansomware *bool      `bun:"kev_ransomware,scanonly"`
	// NVD is the NVD's word on the entry's highest-scored CVE (cve_id, score, severity,
	// description, state), null when the NVD content holds none of its CVEs.
	NVD json.RawMessage `bun:"nvd,scanonly"`
}

// VulnerabilityFilter narrows a catalogue listing.
type VulnerabilityFilter struct {
	Source   string
	Severity string
	CVE      string
	// Query matches the title or the vendor ID as a substring, case-insensitively.
	Query string
	// KnownExploited, when set, keeps the entries whose CVEs the current KEV catalogue lists
	// (true) or does not (false).
	KnownExploited *bool
	Cursor         string
	Limit          int
}

const kevMatch = "FROM known_exploited_current k WHERE k.cve_id = ANY(v.cves)"

func vulnerabilityColumns(q *bun.SelectQuery) *bun.SelectQuery {
	return q.ColumnExpr("v.*").
		ColumnExpr("(SELECT count(*) FROM vulnerability_occurrences o WHERE o.vulnerability_id = v.id AND o.status = 'open') AS open_occurrences").
		ColumnExpr("(SELECT min(k.date_added) " + kevMatch + ") AS kev_date_added").
		ColumnExpr("(SELECT min(k.due_date) " + kevMatch + ") AS kev_due_date").
		ColumnExpr("(SELECT bool_or(k.ransomware_use = 'Known') " + kevMatch + ") AS kev_ransomware").
		ColumnExpr("(SELECT json_build_object('cve_id', n.cve_id, 'score', n.score, 'severity', n.severity, 'description', n.description, 'state', n.state) " +
			"FROM nvd_current n WHERE n.cve_id = ANY(v.cves) ORDER BY n.score DESC NULLS LAST, n.cve_id LIMIT 1) AS nvd")
}

// ListVulnerabilities returns one page of the catalogue ordered by ID.
func (s *Directory) ListVulnerabilities(ctx context.Context, f VulnerabilityFilter) ([]Vulnerability, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]Vulnerability, 0, f.Limit+1)
	q := vulnerabilityColumns(s.db.NewSelect().Model(&out))
	if f.Source != "" {
		q = q.Where("v.source = ?", f.Source)
	}
	if f.Severity != "" {
		q = q.Where("v.severity = ?", f.Severity)
	}
	if f.CVE != "" {
		q = q.Where("v.cves @> ?::text[]", pgdialect.Array([]string{f.CVE}))
	}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("v.title ILIKE ?", like).WhereOr("v.vendor_id ILIKE ?", like)
		})
	}
	if f.KnownExploited != nil {
		cond := "EXISTS (SELECT 1 " + kevMatch + ")"
		if !*f.KnownExploited {
			cond = "NOT " + cond
		}
		q = q.Where(cond)
	}
	return pageByID(ctx, q, &out, "v.id", "vulnerability", f.Cursor, f.Limit, func(v Vulnerability) int64 { return v.ID })
}

// GetVulnerability returns one catalogue entry.
func (s *Directory) GetVulnerability(ctx context.Context, id int64) (*Vulnerability, error) {
	v := new(Vulnerability)
	return v, mapError(vulnerabilityColumns(s.db.NewSelect().Model(v)).Where("v.id = ?", id).Scan(ctx))
}
