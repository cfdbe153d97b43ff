package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// handle adapts a handler that returns its status and body, or an error, to Gin: every error
// goes through renderError, the one place that maps errors to HTTP.
func (a *api) handle(h func(c *gin.Context) (int, any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		status, body, err := h(c)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		if status == http.StatusNoContent {
			c.Status(status)
			return
		}
		c.JSON(status, body)
	}
}

// query is a listing's query string being read: parameters are parsed into a filter and
// their errors collected with the parameter's name.
type query struct {
	url.Values
	fs []valid.FieldError
}

func (q *query) enum(name string, allowed ...string) string {
	return enumParam(q.Values, name, allowed, &q.fs)
}
func (q *query) uuid(name string) *uuid.UUID { return uuidParam(q.Values, name, &q.fs) }

// boolean reads an optional true/false parameter.
func (q *query) boolean(name string) *bool { return q.booleanInto(name, &q.fs) }

// booleanInto is boolean with the errors collected in fs.
func (q *query) booleanInto(name string, fs *[]valid.FieldError) *bool {
	v := enumParam(q.Values, name, []string{"true", "false"}, fs)
	if v == "" {
		return nil
	}
	b := v == "true"
	return &b
}
func (q *query) limit() int { return limitParam(q.Values, &q.fs) }

func (q *query) text(name string, max int) string {
	v := strings.TrimSpace(q.Get(name))
	if len(v) > max {
		q.fs = append(q.fs, valid.FieldError{Field: name, Message: "must be at most " + strconv.Itoa(max) + " characters"})
	}
	return v
}

// id reads an optional positive integer ID.
func (q *query) id(name string) *int64 {
	v := q.Get(name)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		q.fs = append(q.fs, valid.FieldError{Field: name, Message: "must be a positive integer ID"})
		return nil
	}
	return &n
}

func (q *query) intRange(name string, lo, hi int) *int {
	v := q.Get(name)
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.fs = append(q.fs, valid.FieldError{Field: name, Message: "must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)})
		return nil
	}
	return &n
}

// listing declares a list endpoint (fetch is called per request: the route table is also
// built without a store, for Rules) by its parameters, how they make a filter, the store call
// and the view of one item: unknown and repeated parameters are refused, bad values named.
func listing[F, T, V any](a *api, params []string, filter func(c *gin.Context, q *query) (F, error),
	fetch func(ctx context.Context, f F) ([]T, string, error), view func(*T) V) gin.HandlerFunc {
	return a.handle(func(c *gin.Context) (int, any, error) {
		q := &query{Values: c.Request.URL.Query()}
		if err := checkQuery(q.Values, append(params, "limit", "cursor")...); err != nil {
			return 0, nil, err
		}
		f, err := filter(c, q)
		if err != nil {
			return 0, nil, err
		}
		if err := valid.Fields(q.fs...); err != nil {
			return 0, nil, err
		}
		list, next, err := fetch(c, f)
		if err != nil {
			return 0, nil, err
		}
		out := page[V]{Items: make([]V, 0, len(list)), NextCursor: next}
		for i := range list {
			out.Items = append(out.Items, view(&list[i]))
		}
		return http.StatusOK, out, nil
	})
}

// pathInt64 parses the :id path parameter as a positive integer.
func pathInt64(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, valid.Field("id", "%q is not an ID", c.Param("id"))
	}
	return id, nil
}

type assetView struct {
	ID              uuid.UUID `json:"id"`
	IdentityKey     string    `json:"identity_key"`
	Name            string    `json:"name"`
	Type            string    `json:"type"`
	Description     string    `json:"description"`
	HostAddress     string    `json:"host_address"`
	FQDN            string    `json:"fqdn"`
	Hostname        string    `json:"hostname"`
	DNS             string    `json:"dns"`
	NetBIOS         string    `json:"netbios"`
	IPAddresses     []string  `json:"ip_addresses"`
	OS              string    `json:"os"`
	OSVersion       string    `json:"os_version"`
	Relevance       int       `json:"relevance"`
	Criticality     *int      `json:"criticality"`
	Responsible     string    `json:"responsible"`
	Source          string    `json:"source"`
	VendorID        string    `json:"vendor_id"`
	EditedFields    []string  `json:"edited_fields"`
	Status          string    `json:"status"`
	Sources         []string  `json:"sources"`
	OpenOccurrences int64     `json:"open_occurrences"`
	RiskScore       int64     `json:"risk_score"`
	ActiveFindings  int64     `json:"active_findings"`
	FirstSeenAt     time.Time `json:"first_seen_at"`
	LastSeenAt      time.Time `json:"last_seen_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func assetResponse(x *store.Asset) assetView {
	return assetView{ID: x.ID, IdentityKey: x.IdentityKey, Name: x.Name, Type: x.AssetType, Description: x.Description,
		HostAddress: x.HostAddress, FQDN: x.FQDN, Hostname: x.Hostname, DNS: x.DNS, NetBIOS: x.NetBIOS, IPAddresses: nonNil(x.IPAddresses),
		OS: x.OS, OSVersion: x.OSVersion, Relevance: x.Relevance, Criticality: x.Criticality, Responsible: x.Responsible,
		Source: x.Source, VendorID: x.VendorID, EditedFields: nonNil(x.EditedFields), Status: x.Status, Sources: nonNil(x.Sources),
		OpenOccurrences: x.OpenOccurrences, RiskScore: x.RiskScore, ActiveFindings: x.ActiveFindings,
		FirstSeenAt: x.FirstSeenAt, LastSeenAt: x.LastSeenAt, UpdatedAt: x.UpdatedAt}
}

var assetSources = []string{"ldap", "qualys", "nexpose", "xml"}

func (a *api) listAssets() gin.HandlerFunc {
	return listing(a, []string{"status", "source", "min_criticality", "q"},
		func(_ *gin.Context, q *query) (store.AssetFilter, error) {
			return store.AssetFilter{Status: q.enum("status", "active", "retired"), Source: q.enum("source", assetSources...),
				MinCriticality: q.intRange("min_criticality", 0, 100), Query: q.text("q", 200), Limit: q.limit(), Cursor: q.Get("cursor")}, nil
		}, func(ctx context.Context, f store.AssetFilter) ([]store.Asset, string, error) {
			return a.Store.Directory.ListAssets(ctx, f)
		}, assetResponse)
}

func (a *api) getAsset(c *gin.Context) (int, any, error) {
	id, err := pathUUID(c)
	if err != nil {
		return 0, nil, err
	}
	x, err := a.Store.Directory.GetAsset(c, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, assetResponse(x), nil
}

// assetPatch is an admin's edit of an asset's properties; absent fields stay.
type assetPatch struct {
	Name        *string `json:"name" validate:"omitempty,min=1,max=400"`
	Type        *string `json:"type" validate:"omitempty,min=1,max=100"`
	Description *string `json:"description" validate:"omitempty,max=4000"`
	HostAddress *string `json:"host_address" validate:"omitempty,max=100"`
	Relevance   *int    `json:"relevance" validate:"omitempty,min=1,max=5"`
	// Criticality is 0-100; -1 removes it.
	Criticality *int    `json:"criticality" validate:"omitempty,min=-1,max=100"`
	Responsible *string `json:"responsible" validate:"omitempty,max=400"`
}

func (a *api) updateAsset(c *gin.Context) (int, any, error) {
	id, err := pathUUID(c)
	if err != nil {
		return 0, nil, err
	}
	var p assetPatch
	if err := bindJSON(c, &p, false); err != nil {
		return 0, nil, err
	}
	if err := valid.Struct("", &p); err != nil {
		return 0, nil, err
	}
	e := store.AssetEdit{Name: p.Name, AssetType: p.Type, Description: p.Description, HostAddress: p.HostAddress,
		Relevance: p.Relevance, Responsible: p.Responsible}
	if p.Criticality != nil {
		if *p.Criticality < 0 {
			e.ClearCriticality = true
		} else {
			e.Criticality = p.Criticality
		}
	}
	if err := a.Store.Directory.UpdateAsset(c, id, e, time.Now().UTC()); err != nil {
		return 0, nil, err
	}
	x, err := a.Store.Directory.GetAsset(c, id)
	if err != nil {
		return 0, nil, err
	}
	noteAudit(c, id.String(), "edited asset "+x.Name)
	return http.StatusOK, assetResponse(x), nil
}

type occurrenceView struct {
	// KnownExploited: the current KEV catalogue lists a CVE of the vulnerability.
	KnownExploited  bool       `json:"known_exploited"`
	ID              int64      `json:"id"`
	TaskID          uuid.UUID  `json:"task_id"`
	Identity        string     `json:"identity"`
	AssetID         uuid.UUID  `json:"asset_id"`
	AssetName       string     `json:"asset_name"`
	VulnerabilityID int64      `json:"vulnerability_id"`
	VendorID        string     `json:"vendor_id"`
	Title           string     `json:"title"`
	Level           *int       `json:"level"`
	Source          string     `json:"source"`
	Port            *int32     `json:"port"`
	Protocol        string     `json:"protocol"`
	Instance        string     `json:"instance"`
	Status          string     `json:"status"`
	DetectionType   string     `json:"detection_type"`
	VendorStatus    string     `json:"vendor_status"`
	Evidence        string     `json:"evidence"`
	Probability     int        `json:"probability"`
	RiskScore       int64      `json:"risk_score"`
	FirstFound      *time.Time `json:"first_found"`
	LastFound       *time.Time `json:"last_found"`
	TimesFound      *int32     `json:"times_found"`
	ClosedAt        *time.Time `json:"closed_at"`
	ExpiredAt       *time.Time `json:"expired_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	Tickets         []int64    `json:"tickets"`
}

func occurrenceResponse(o *store.Occurrence) occurrenceView {
	out := occurrenceView{ID: o.ID, TaskID: o.TaskID, Identity: o.Identity, AssetID: o.AssetID, AssetName: o.AssetName,
		VulnerabilityID: o.VulnerabilityID, VendorID: o.VendorID, Title: o.Title, Level: o.Level, Source: o.Source, Port: o.Port,
		Protocol: o.Protocol, Instance: o.Instance, Status: o.Status, DetectionType: o.DetectionType, VendorStatus: o.VendorStatus,
		Evidence: o.Evidence, Probability: o.Probability, RiskScore: o.RiskScore, FirstFound: o.FirstFound, LastFound: o.LastFound,
		TimesFound: o.TimesFound, ClosedAt: o.ClosedAt, ExpiredAt: o.ExpiredAt, UpdatedAt: o.UpdatedAt, Tickets: o.Tickets,
		KnownExploited: o.KnownExploited}
	if out.Tickets == nil {
		out.Tickets = []int64{}
	}
	return out
}

var occurrenceStatuses = []string{"open", "risk_accepted", "not_vulnerable", "closed", "expired"}

// listOccurrences lists occurrences; scope reads the path (an asset or a vulnerability).
func (a *api) listOccurrences(scope func(c *gin.Context, f *store.OccurrenceFilter) error) gin.HandlerFunc {
	return listing(a, []string{"status", "task_id", "known_exploited"},
		func(c *gin.Context, q *query) (store.OccurrenceFilter, error) {
			f := store.OccurrenceFilter{Status: q.enum("status", occurrenceStatuses...), TaskID: q.uuid("task_id"), Limit: q.limit(), Cursor: q.Get("cursor"),
				KnownExploited: q.boolean("known_exploited")}
			return f, scope(c, &f)
		}, func(ctx context.Context, f store.OccurrenceFilter) ([]store.Occurrence, string, error) {
			return a.Store.Directory.ListOccurrences(ctx, f)
		}, occurrenceResponse)
}

// assetScope checks the :id asset exists and lists its occurrences.
func (a *api) assetScope(c *gin.Context, f *store.OccurrenceFilter) error {
	id, err := pathUUID(c)
	if err != nil {
		return err
	}
	if _, err := a.Store.Directory.GetAsset(c, id); err != nil {
		return err
	}
	f.AssetID = &id
	return nil
}

// vulnerabilityScope checks the :id vulnerability exists and lists its occurrences.
func (a *api) vulnerabilityScope(c *gin.Context, f *store.OccurrenceFilter) error {
	id, err := pathInt64(c)
	if err != nil {
		return err
	}
	if _, err := a.Store.Directory.GetVulnerability(c, id); err != nil {
		return err
	}
	f.VulnerabilityID = &id
	return nil
}

type vulnerabilityView struct {
	ID              int64    `json:"id"`
	Source          string   `json:"source"`
	Scope           string   `json:"scope"`
	VendorID        string   `json:"vendor_id"`
	Title           string   `json:"title"`
	Level           *int     `json:"level"`
	Severity        string   `json:"severity"`
	VendorSeverity  string   `json:"vendor_severity"`
	CVEs            []string `json:"cves"`
	Description     string   `json:"description,omitempty"`
	Solution        string   `json:"solution,omitempty"`
	DescriptionHTML string   `json:"description_html,omitempty"`
	SolutionHTML    string   `json:"solution_html,omitempty"`
	OpenOccurrences int64    `json:"open_occurrences"`
	// KnownExploited is the current KEV catalogue's word on the entry's CVEs, nil when it
	// lists none of them.
	KnownExploited *knownExploitedView `json:"known_exploited"`
	// NVD is the NVD's word on the entry's highest-scored CVE, nil when the NVD content
	// holds none of them.
	NVD       *nvdView  `json:"nvd"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type nvdView struct {
	CVEID       string   `json:"cve_id"`
	Score       *float64 `json:"score"`
	Severity    string   `json:"severity"`
	State       string   `json:"state"`
	Description string   `json:"description,omitempty"`
}

type knownExploitedView struct {
	DateAdded     string  `json:"date_added"`
	DueDate       *string `json:"due_date"`
	RansomwareUse bool    `json:"known_ransomware_use"`
}

// vulnerabilityResponse shows a catalogue entry; full adds the long texts.
func vulnerabilityResponse(v *store.Vulnerability, full bool) vulnerabilityView {
	out := vulnerabilityView{ID: v.ID, Source: v.Source, Scope: v.Scope, VendorID: v.VendorID, Title: v.Title, Level: v.Level,
		Severity: v.Severity, VendorSeverity: v.VendorSeverity, CVEs: nonNil(v.CVEs), OpenOccurrences: v.OpenOccurrences,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
	if full {
		out.Description, out.Solution, out.DescriptionHTML, out.SolutionHTML = v.Description, v.Solution, v.DescriptionHTML, v.SolutionHTML
	}
	if v.KEVDateAdded != nil {
		ke := &knownExploitedView{DateAdded: v.KEVDateAdded.Format(time.DateOnly), RansomwareUse: v.KEVRansomware != nil && *v.KEVRansomware}
		if v.KEVDueDate != nil {
			d := v.KEVDueDate.Format(time.DateOnly)
			ke.DueDate = &d
		}
		out.KnownExploited = ke
	}
	if len(v.NVD) > 0 && string(v.NVD) != "null" {
		var n nvdView
		if json.Unmarshal(v.NVD, &n) == nil {
			if !full {
				n.Description = ""
			}
			out.NVD = &n
		}
	}
	return out
}

func (a *api) listVulnerabilities() gin.HandlerFunc {
	return listing(a, []string{"source", "severity", "cve", "q", "known_exploited"},
		func(_ *gin.Context, q *query) (store.VulnerabilityFilter, error) {
			f := store.VulnerabilityFilter{Source: q.enum("source", "qualys", "nexpose", "xml"), Severity: q.enum("severity", severities...),
				CVE: q.text("cve", 64), Query: q.text("q", 200), Limit: q.limit(), Cursor: q.Get("cursor")}
			f.KnownExploited = q.boolean("known_exploited")
			return f, nil
		}, func(ctx context.Context, f store.VulnerabilityFilter) ([]store.Vulnerability, string, error) {
			return a.Store.Directory.ListVulnerabilities(ctx, f)
		}, func(v *store.Vulnerability) vulnerabilityView { return vulnerabilityResponse(v, false) })
}

func (a *api) getVulnerability(c *gin.Context) (int, any, error) {
	id, err := pathInt64(c)
	if err != nil {
		return 0, nil, err
	}
	v, err := a.Store.Directory.GetVulnerability(c, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, vulnerabilityResponse(v, true), nil
}
