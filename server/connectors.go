package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/connectors"
	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
	"github.com/tributary-io/tributary/valid"
	"github.com/tributary-io/tributary/workflows"
)

// connectorView is a connector as the API shows it: the password is never included.
type connectorView struct {
	ID               uuid.UUID `json:"id"`
	ToolType         string    `json:"tool_type"`
	Name             string    `json:"name"`
	Description      string    `json:"description"`
	BaseURL          string    `json:"base_url"`
	Config           any       `json:"config"`
	DiscoverSchedule string    `json:"discover_schedule"`
	SyncSchedule     string    `json:"sync_schedule"`
	Timezone         string    `json:"timezone"`
	Enabled          bool      `json:"enabled"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// The connector's health: its newest Discover and Sync, and when their schedules next
	// start one (none while disabled).
	LastDiscover   *runBrief  `json:"last_discover"`
	LastSync       *runBrief  `json:"last_sync"`
	NextDiscoverAt *time.Time `json:"next_discover_at"`
	NextSyncAt     *time.Time `json:"next_sync_at"`
}

// withConnectorHealth adds each connector's last Discover and Sync (one query each for
// all) and their next scheduled runs.
func (a *api) withConnectorHealth(ctx context.Context, views []connectorView) error {
	ids := make([]uuid.UUID, 0, len(views))
	for _, v := range views {
		ids = append(ids, v.ID)
	}
	discover, err := a.Store.Runs.LatestConnectorRuns(ctx, store.KindConnectorDiscover, ids)
	if err != nil {
		return err
	}
	sync, err := a.Store.Runs.LatestConnectorRuns(ctx, store.KindConnectorSync, ids)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range views {
		v := &views[i]
		v.LastDiscover, v.LastSync = briefOf(discover, v.ID), briefOf(sync, v.ID)
		if v.Enabled {
			v.NextDiscoverAt = tasks.NextRun(v.DiscoverSchedule, v.Timezone, now)
			v.NextSyncAt = tasks.NextRun(v.SyncSchedule, v.Timezone, now)
		}
	}
	return nil
}

func connectorResponse(c *store.Connector) (connectorView, error) {
	cfg, err := connectortype.DecodeStored(c.Config)
	if err != nil {
		return connectorView{}, err
	}
	return connectorView{ID: c.ID, ToolType: c.ToolType, Name: c.Name, Description: c.Description, BaseURL: c.BaseURL,
		Config: cfg.Redacted(), DiscoverSchedule: c.DiscoverSchedule, SyncSchedule: c.SyncSchedule, Timezone: c.Timezone,
		Enabled: c.Enabled, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}, nil
}

type recordView struct {
	ID             uuid.UUID  `json:"id"`
	ConnectorID    uuid.UUID  `json:"connector_id"`
	VendorID       string     `json:"vendor_id"`
	VendorKind     string     `json:"vendor_kind"`
	Name           string     `json:"name"`
	State          string     `json:"state"`
	ProductID      *uuid.UUID `json:"product_id"`
	ProductName    string     `json:"product_name,omitempty"`
	VendorMissing  bool       `json:"vendor_missing"`
	MissingSince   *time.Time `json:"missing_since"`
	FirstSeenAt    time.Time  `json:"first_seen_at"`
	LastSeenAt     time.Time  `json:"last_seen_at"`
	LastSyncRunID  *uuid.UUID `json:"last_sync_run_id"`
	LastSyncAt     *time.Time `json:"last_sync_at"`
	LastSyncStatus string     `json:"last_sync_status"`
	LastSyncError  string     `json:"last_sync_error"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func recordResponse(r *store.Record) recordView {
	return recordView{ID: r.ID, ConnectorID: r.ConnectorID, VendorID: r.VendorID, VendorKind: r.VendorKind, Name: r.Name,
		State: r.State, ProductID: r.ProductID, ProductName: r.ProductName, VendorMissing: r.VendorMissing,
		MissingSince: r.MissingSince, FirstSeenAt: r.FirstSeenAt, LastSeenAt: r.LastSeenAt, LastSyncRunID: r.LastSyncRun,
		LastSyncAt: r.LastSyncAt, LastSyncStatus: r.LastSyncStatus, LastSyncError: r.LastSyncError, UpdatedAt: r.UpdatedAt}
}

type productView struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

type engagementView struct {
	ID        uuid.UUID `json:"id"`
	ProductID uuid.UUID `json:"product_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type testView struct {
	ID           uuid.UUID `json:"id"`
	EngagementID uuid.UUID `json:"engagement_id"`
	ProductID    uuid.UUID `json:"product_id"`
	ConnectorID  uuid.UUID `json:"connector_id"`
	Title        string    `json:"title"`
	TestType     string    `json:"test_type"`
	CreatedAt    time.Time `json:"created_at"`
}

func testResponse(t *store.Test) testView {
	return testView{ID: t.ID, EngagementID: t.EngagementID, ProductID: t.ProductID, ConnectorID: t.ConnectorID,
		Title: t.Title, TestType: t.TestType, CreatedAt: t.CreatedAt}
}

type findingView struct {
	// KnownExploited: the current KEV catalogue lists a CVE of the finding (listings).
	KnownExploited bool       `json:"known_exploited"`
	ID             int64      `json:"id"`
	TestID         uuid.UUID  `json:"test_id"`
	ProductID      uuid.UUID  `json:"product_id"`
	RecordID       uuid.UUID  `json:"record_id"`
	Identity       string     `json:"identity"`
	Title          string     `json:"title"`
	Severity       string     `json:"severity"`
	VendorSeverity string     `json:"vendor_severity"`
	VendorID       string     `json:"vendor_id"`
	CVEs           []string   `json:"cves"`
	Host           string     `json:"host"`
	IP             string     `json:"ip"`
	Port           *int32     `json:"port"`
	Protocol       string     `json:"protocol"`
	Description    string     `json:"description,omitempty"`
	Solution       string     `json:"solution,omitempty"`
	Evidence       string     `json:"evidence,omitempty"`
	FirstSeen      *time.Time `json:"first_seen"`
	LastSeen       *time.Time `json:"last_seen"`
	Active         bool       `json:"active"`
	Status         string     `json:"status"`
	VendorStatus   string     `json:"vendor_status"`
	DetectionType  string     `json:"detection_type"`
	UniqueVulnID   string     `json:"unique_vuln_id,omitempty"`
	AssetVendorID  string     `json:"asset_vendor_id"`
	AssetID        *uuid.UUID `json:"asset_id"`
	QDS            *int32     `json:"qds"`
	TimesFound     *int32     `json:"times_found"`
	LastFixed      *time.Time `json:"last_fixed"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	InactivatedAt  *time.Time `json:"inactivated_at"`
	// The vendor's HTML, sanitised; only on a single finding.
	DescriptionHTML string `json:"description_html,omitempty"`
	SolutionHTML    string `json:"solution_html,omitempty"`
	EvidenceHTML    string `json:"evidence_html,omitempty"`
}

// findingResponse shows a finding; full adds the long texts, which listings leave out.
func findingResponse(f *store.Finding, full bool) findingView {
	v := findingView{KnownExploited: f.KnownExploited, ID: f.ID, TestID: f.TestID, ProductID: f.ProductID, RecordID: f.RecordID, Identity: f.Identity, Title: f.Title,
		Severity: f.Severity, VendorSeverity: f.VendorSeverity, VendorID: f.VendorID, CVEs: f.CVEs, Host: f.Host, IP: f.IP,
		Port: f.Port, Protocol: f.Protocol, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen, Active: f.Active,
		Status: f.Status, VendorStatus: f.VendorStatus, DetectionType: f.DetectionType, UniqueVulnID: f.UniqueVulnID,
		AssetVendorID: f.AssetVendorID, AssetID: f.AssetID, QDS: f.QDS, TimesFound: f.TimesFound, LastFixed: f.LastFixed,
		CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, InactivatedAt: f.InactivatedAt}
	if v.CVEs == nil {
		v.CVEs = []string{}
	}
	if full {
		v.Description, v.Solution, v.Evidence = f.Description, f.Solution, f.Evidence
		v.DescriptionHTML, v.SolutionHTML, v.EvidenceHTML = f.DescriptionHTML, f.SolutionHTML, f.EvidenceHTML
	}
	return v
}

type importView struct {
	ID        uuid.UUID        `json:"id"`
	TestID    uuid.UUID        `json:"test_id"`
	RecordID  uuid.UUID        `json:"record_id"`
	RunID     uuid.UUID        `json:"run_id"`
	StartedAt time.Time        `json:"started_at"`
	AppliedAt time.Time        `json:"applied_at"`
	Counts    map[string]int64 `json:"counts"`
}

type findingActionView struct {
	ImportID  uuid.UUID `json:"import_id"`
	RunID     uuid.UUID `json:"run_id"`
	Action    string    `json:"action"`
	AppliedAt time.Time `json:"applied_at"`
}

func (a *api) listConnectorTypes(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"items": connectortype.Types})
}

func (a *api) listConnectors(c *gin.Context) {
	if err := checkQuery(c.Request.URL.Query()); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, err := a.connectors.List(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[connectorView]{Items: make([]connectorView, 0, len(list))}
	for i := range list {
		v, err := connectorResponse(&list[i])
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		out.Items = append(out.Items, v)
	}
	if err := a.withConnectorHealth(c, out.Items); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) renderConnector(c *gin.Context, status int, conn *store.Connector) {
	v, err := connectorResponse(conn)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	views := []connectorView{v}
	if err := a.withConnectorHealth(c, views); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(status, views[0])
}

func (a *api) createConnector(c *gin.Context) {
	var spec connectors.Spec
	if err := bindJSON(c, &spec, false); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	conn, err := a.connectors.Create(c, spec)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, conn.ID.String(), "created "+conn.ToolType+" connector "+conn.Name)
	a.renderConnector(c, http.StatusCreated, conn)
}

func (a *api) getConnector(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	conn, err := a.connectors.Get(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	a.renderConnector(c, http.StatusOK, conn)
}

func (a *api) updateConnector(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	var spec connectors.Spec
	if err := bindJSON(c, &spec, false); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	conn, err := a.connectors.Update(c, id, spec)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, id.String(), "updated "+conn.ToolType+" connector "+conn.Name)
	a.renderConnector(c, http.StatusOK, conn)
}

func (a *api) deleteConnector(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if err := a.connectors.Delete(c, id); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, id.String(), "deleted connector")
	c.Status(http.StatusNoContent)
}

// triggerConnector returns the handler starting operation op of a connector.
func (a *api) triggerConnector(op string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := pathUUID(c)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		var opts tasks.TriggerOptions
		if err := bindJSON(c, &opts, true); err != nil {
			renderError(c, a.Logger, err)
			return
		}
		started, err := a.connectors.Trigger(c, id, op, principal(c).Name, opts)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		noteAudit(c, id.String(), "triggered "+op+" run "+started.RunID)
		runURL := "/api/v1/runs/" + started.RunID
		c.Header("Location", runURL)
		c.JSON(http.StatusAccepted, triggerResponse{
			RunID: started.RunID, WorkflowID: started.WorkflowID, WorkflowRunID: started.WorkflowRunID, RunURL: runURL,
			TemporalURL: a.temporalURL(started.WorkflowID, started.WorkflowRunID),
		})
	}
}

// listOperations is a connector's Operations page: its Discover and Sync runs, newest first.
func (a *api) listOperations(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	q := c.Request.URL.Query()
	if err := checkQuery(q, "operation", "status", "limit", "cursor"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	f := store.RunFilter{ConnectorID: &id, Cursor: q.Get("cursor")}
	var fs []valid.FieldError
	switch q.Get("operation") {
	case "":
	case workflows.OpDiscover:
		f.Kind = store.KindConnectorDiscover
	case workflows.OpSync:
		f.Kind = store.KindConnectorSync
	default:
		fs = append(fs, valid.FieldError{Field: "operation", Message: "must be one of: discover, sync"})
	}
	f.Status = enumParam(q, "status", store.Statuses, &fs)
	f.Limit = limitParam(q, &fs)
	if err := valid.Fields(fs...); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if _, err := a.connectors.Get(c, id); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	a.renderRuns(c, f)
}

// limitParam reads the limit of a listing page (default 50); a bad value is added to fs.
func limitParam(q url.Values, fs *[]valid.FieldError) int {
	n, fe := pageLimit(q.Get("limit"), 50)
	if fe != nil {
		*fs = append(*fs, *fe)
	}
	return n
}

func recordID(c *gin.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("record_id"))
	if err != nil {
		return uuid.Nil, valid.Field("record_id", "%q is not a UUID", c.Param("record_id"))
	}
	return id, nil
}

func (a *api) listRecords(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	q := c.Request.URL.Query()
	if err := checkQuery(q, "state", "limit", "cursor"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	f := store.RecordFilter{ConnectorID: id, Cursor: q.Get("cursor")}
	var fs []valid.FieldError
	f.State = enumParam(q, "state", store.RecordStates, &fs)
	f.Limit = limitParam(q, &fs)
	if err := valid.Fields(fs...); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if _, err := a.connectors.Get(c, id); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, next, err := a.Store.Connectors.ListRecords(c, f)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[recordView]{Items: make([]recordView, 0, len(list)), NextCursor: next}
	for i := range list {
		out.Items = append(out.Items, recordResponse(&list[i]))
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) getRecord(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	rid, err := recordID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	r, err := a.Store.Connectors.GetRecord(c, id, rid)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(http.StatusOK, recordResponse(r))
}

func (a *api) mapRecord(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	rid, err := recordID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	var spec connectors.MapSpec
	if err := bindJSON(c, &spec, false); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	r, err := a.connectors.MapRecord(c, id, rid, spec)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, rid.String(), "mapped record "+r.Name+" to product "+r.ProductName)
	c.JSON(http.StatusOK, recordResponse(r))
}

// setRecordState returns the handler that ignores or unmaps a record.
func (a *api) setRecordState(state string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := pathUUID(c)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		rid, err := recordID(c)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		if err := bindJSON(c, &struct{}{}, true); err != nil {
			renderError(c, a.Logger, err)
			return
		}
		r, err := a.connectors.SetRecordState(c, id, rid, state)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		noteAudit(c, rid.String(), "set record "+r.Name+" to "+state)
		c.JSON(http.StatusOK, recordResponse(r))
	}
}

func (a *api) listProducts(c *gin.Context) {
	q := c.Request.URL.Query()
	if err := checkQuery(q, "limit", "cursor"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	n, fe := pageLimit(q.Get("limit"), 50)
	if fe != nil {
		renderError(c, a.Logger, valid.Fields(*fe))
		return
	}
	list, next, err := a.Store.Connectors.ListProducts(c, q.Get("cursor"), n)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[productView]{Items: make([]productView, 0, len(list)), NextCursor: next}
	for _, p := range list {
		out.Items = append(out.Items, productView{ID: p.ID, Name: p.Name, Description: p.Description, CreatedAt: p.CreatedAt})
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) getProduct(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	p, err := a.Store.Connectors.GetProduct(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(http.StatusOK, productView{ID: p.ID, Name: p.Name, Description: p.Description, CreatedAt: p.CreatedAt})
}

func (a *api) listEngagements(c *gin.Context) {
	q := c.Request.URL.Query()
	if err := checkQuery(q, "product_id", "limit", "cursor"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	var fs []valid.FieldError
	productID := uuidParam(q, "product_id", &fs)
	n := limitParam(q, &fs)
	if err := valid.Fields(fs...); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, next, err := a.Store.Connectors.ListEngagements(c, productID, q.Get("cursor"), n)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[engagementView]{Items: make([]engagementView, 0, len(list)), NextCursor: next}
	for _, e := range list {
		out.Items = append(out.Items, engagementView{ID: e.ID, ProductID: e.ProductID, Name: e.Name, CreatedAt: e.CreatedAt})
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) listTests(c *gin.Context) {
	q := c.Request.URL.Query()
	if err := checkQuery(q, "product_id", "engagement_id", "connector_id", "limit", "cursor"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	var fs []valid.FieldError
	f := store.TestFilter{ProductID: uuidParam(q, "product_id", &fs), EngagementID: uuidParam(q, "engagement_id", &fs),
		ConnectorID: uuidParam(q, "connector_id", &fs), Cursor: q.Get("cursor"), Limit: limitParam(q, &fs)}
	if err := valid.Fields(fs...); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, next, err := a.Store.Connectors.ListTests(c, f)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[testView]{Items: make([]testView, 0, len(list)), NextCursor: next}
	for i := range list {
		out.Items = append(out.Items, testResponse(&list[i]))
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) getTest(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	t, err := a.Store.Connectors.GetTest(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(http.StatusOK, testResponse(t))
}

func (a *api) listImports(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	q := c.Request.URL.Query()
	if err := checkQuery(q, "limit"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	n, fe := pageLimit(q.Get("limit"), 50)
	if fe != nil {
		renderError(c, a.Logger, valid.Fields(*fe))
		return
	}
	if _, err := a.Store.Connectors.GetTest(c, id); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, err := a.Store.Connectors.ListImports(c, id, n)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[importView]{Items: make([]importView, 0, len(list))}
	for i := range list {
		ti := &list[i]
		out.Items = append(out.Items, importView{ID: ti.ID, TestID: ti.TestID, RecordID: ti.RecordID, RunID: ti.RunID,
			StartedAt: ti.StartedAt, AppliedAt: ti.AppliedAt, Counts: ti.Counts()})
	}
	c.JSON(http.StatusOK, out)
}

var findingStatuses = []string{scanner.StatusOpen, scanner.StatusRiskAccepted, scanner.StatusNotVulnerable, scanner.StatusMitigated}

var severities = []string{scanner.SeverityCritical, scanner.SeverityHigh, scanner.SeverityMedium, scanner.SeverityLow, scanner.SeverityInfo}

// findingTrend answers how many findings of each severity were open at the end of each of
// the last days (?days=, 1 to 365, default 30) UTC days.
func (a *api) findingTrend(c *gin.Context) (int, any, error) {
	q := c.Request.URL.Query()
	if err := checkQuery(q, "days"); err != nil {
		return 0, nil, err
	}
	days := 30
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 365 {
			return 0, nil, valid.Field("days", "must be a whole number of days from 1 to 365, not %q", v)
		}
		days = n
	}
	items, err := a.Store.Connectors.OpenFindingsBySeverity(c, days, time.Now())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, gin.H{"items": items}, nil
}

func (a *api) listFindings(c *gin.Context) {
	q := c.Request.URL.Query()
	if err := checkQuery(q, "product_id", "test_id", "record_id", "asset_id", "active", "severity", "status", "known_exploited", "limit", "cursor"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	var fs []valid.FieldError
	f := store.FindingFilter{ProductID: uuidParam(q, "product_id", &fs), TestID: uuidParam(q, "test_id", &fs),
		RecordID: uuidParam(q, "record_id", &fs), Severity: enumParam(q, "severity", severities, &fs),
		Status: enumParam(q, "status", findingStatuses, &fs), AssetID: uuidParam(q, "asset_id", &fs), Limit: limitParam(q, &fs), Cursor: q.Get("cursor")}
	if v := q.Get("active"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fs = append(fs, valid.FieldError{Field: "active", Message: "must be true or false"})
		}
		f.Active = &b
	}
	f.KnownExploited = (&query{Values: q}).booleanInto("known_exploited", &fs)
	if err := valid.Fields(fs...); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, next, err := a.Store.Connectors.ListFindings(c, f)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[findingView]{Items: make([]findingView, 0, len(list)), NextCursor: next}
	for i := range list {
		out.Items = append(out.Items, findingResponse(&list[i], false))
	}
	c.JSON(http.StatusOK, out)
}

func findingID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, valid.Field("id", "%q is not a finding ID (a positive integer)", c.Param("id"))
	}
	return id, nil
}

func (a *api) getFinding(c *gin.Context) {
	id, err := findingID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	f, err := a.Store.Connectors.GetFinding(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(http.StatusOK, findingResponse(f, true))
}

func (a *api) findingHistory(c *gin.Context) {
	id, err := findingID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if _, err := a.Store.Connectors.GetFinding(c, id); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, err := a.Store.Connectors.FindingHistory(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[findingActionView]{Items: make([]findingActionView, 0, len(list))}
	for _, h := range list {
		out.Items = append(out.Items, findingActionView{ImportID: h.ImportID, RunID: h.RunID, Action: h.Action, AppliedAt: h.AppliedAt})
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) testConnector(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if err := bindJSON(c, &struct{}{}, true); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	// One attempt: a connection test must answer now, not after backoff.
	rep, err := a.connectors.TestConnection(c, id, 20*time.Second, connectortype.ClientOptions{MaxRetries: -1})
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, id.String(), "tested the connection: "+strconv.FormatBool(rep.OK))
	c.JSON(http.StatusOK, rep)
}
