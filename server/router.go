// Package server is Tributary's HTTP API: a Gin router over the store and the dispatcher.
package server

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/connectors"
	"github.com/tributary-io/tributary/dataout"
	"github.com/tributary-io/tributary/directory"
	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
	"github.com/tributary-io/tributary/workflows"
)

// Options configures the API.
type Options struct {
	// Store is the database. Required.
	Store *store.Store
	// Dispatcher starts runs and applies schedules. Required.
	Dispatcher *dispatch.Dispatcher
	// Temporal is checked by the readiness endpoint. Required.
	Temporal client.Client
	// Namespace is the Temporal namespace, used in links to the Temporal UI. Required.
	Namespace string
	// TemporalUIURL is the base URL of the Temporal Web UI. Optional; without it runs carry no UI link.
	TemporalUIURL string
	// Logger receives one line per request and the details of internal errors. Optional; defaults to slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies. Optional; defaults to 1 MiB.
	MaxBodyBytes int64
	// Keyring seals secret values before they are stored. Required.
	Keyring *secrets.Keyring
	// RequestTimeout bounds the work of one request. Optional; defaults to 30s.
	RequestTimeout time.Duration
	// MaxUploadBytes caps a file uploaded for the XML imports (POST /api/v1/files). Optional;
	// defaults to 1 GiB.
	MaxUploadBytes int64
	// UploadTimeout bounds the reading of one upload. Optional; defaults to 1 hour.
	UploadTimeout time.Duration
	// TrustedProxies are the addresses (IPs or CIDRs) of reverse proxies whose
	// X-Forwarded-For header names the client. Optional; by default no proxy is trusted, so
	// clients cannot choose the address that rate limiting and the audit trail see.
	TrustedProxies []string
	// FailedAuthPerMinute is how many failed authentications one client address may make per
	// minute before it gets 429. Optional; defaults to 10.
	FailedAuthPerMinute int
	// Reporting runs saved queries as the reporting role. Optional; without it saved queries
	// are refused with 409.
	Reporting *sqlout.Reporting
	// Metrics counts and times the requests and serves GET /metrics. Optional; without it
	// there is no /metrics.
	Metrics *metrics.Registry
}

//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3 description of the API.
func OpenAPIDocument() []byte { return openAPIDocument }

type api struct {
	Options
	tasks      *tasks.Service
	connectors *connectors.Service
	dataout    *dataout.Service
	tokens     *auth.Tokens
	limiter    *failureLimiter
}

// Rule is one route and the role it requires.
type Rule struct {
	Method string
	Path   string
	Role   auth.Role
}

type route struct {
	Rule
	handle gin.HandlerFunc
}

// routes is the one place where every route declares its role. Every route that is not a
// GET is written to the audit trail.
func (a *api) routes() []route {
	r := func(method, path string, role auth.Role, h gin.HandlerFunc) route {
		return route{Rule{method, path, role}, h}
	}
	return append([]route{
		r("GET", "/healthz", auth.Public, a.health),
		// Like the probes, /metrics needs no token: it holds counts by route and type only.
		r("GET", "/metrics", auth.Public, a.metrics),
		r("GET", "/readyz", auth.Public, a.ready),

		// The web console's files (no data in them) and its sign-in: an API token for a
		// session cookie (see session.go).
		r("GET", "/console/*filepath", auth.Public, a.consoleFiles()),
		// The console's sign-in: an API token for a session cookie (see session.go).
		r("POST", "/api/v1/session", auth.Public, a.createSession),
		r("GET", "/api/v1/session", auth.Viewer, a.getSession),
		r("DELETE", "/api/v1/session", auth.Public, a.deleteSession),

		r("GET", "/api/v1/openapi.yaml", auth.Viewer, a.openAPI),
		r("GET", "/api/v1/openapi.json", auth.Viewer, a.openAPIJSON),
		r("GET", "/api/v1/task-types", auth.Viewer, a.listTaskTypes),

		r("GET", "/api/v1/tasks", auth.Viewer, a.listTasks),
		r("POST", "/api/v1/tasks", auth.Admin, a.createTask),
		r("GET", "/api/v1/tasks/:id", auth.Viewer, a.getTask),
		r("PUT", "/api/v1/tasks/:id", auth.Admin, a.updateTask),
		r("DELETE", "/api/v1/tasks/:id", auth.Admin, a.deleteTask),
		r("POST", "/api/v1/tasks/:id/runs", auth.Operator, a.triggerTask),
		r("POST", "/api/v1/tasks/:id/test-connection", auth.Operator, a.testConnection),

		r("GET", "/api/v1/directory/users", auth.Viewer, a.listDirectory(directory.KindUser)),
		r("GET", "/api/v1/directory/users/:id", auth.Viewer, a.getDirectory(directory.KindUser)),
		r("GET", "/api/v1/directory/groups", auth.Viewer, a.listDirectory(directory.KindGroup)),
		r("GET", "/api/v1/directory/groups/:id", auth.Viewer, a.getDirectory(directory.KindGroup)),
		r("GET", "/api/v1/directory/groups/:id/members", auth.Viewer, a.listGroupMembers),
		r("GET", "/api/v1/directory/computers", auth.Viewer, a.listDirectory(directory.KindComputer)),
		r("GET", "/api/v1/directory/computers/:id", auth.Viewer, a.getDirectory(directory.KindComputer)),
		r("GET", "/api/v1/assets", auth.Viewer, a.listAssets()),
		r("GET", "/api/v1/assets/:id", auth.Viewer, a.handle(a.getAsset)),
		r("PATCH", "/api/v1/assets/:id", auth.Admin, a.handle(a.updateAsset)),
		r("GET", "/api/v1/assets/:id/occurrences", auth.Viewer, a.listOccurrences(a.assetScope)),
		r("GET", "/api/v1/vulnerabilities", auth.Viewer, a.listVulnerabilities()),
		r("GET", "/api/v1/vulnerabilities/:id", auth.Viewer, a.handle(a.getVulnerability)),
		r("GET", "/api/v1/vulnerabilities/:id/occurrences", auth.Viewer, a.listOccurrences(a.vulnerabilityScope)),

		r("GET", "/api/v1/events", auth.Viewer, a.listEvents()),
		r("POST", "/api/v1/events", auth.Operator, a.handle(a.createEvents)),
		r("GET", "/api/v1/events/:id", auth.Viewer, a.handle(a.getEvent)),
		r("PATCH", "/api/v1/events/:id", auth.Operator, a.handle(a.updateEvent)),
		r("POST", "/api/v1/events/:id/close", auth.Operator, a.setEventStatus(store.ActionClose)),
		r("POST", "/api/v1/events/:id/cancel", auth.Operator, a.setEventStatus(store.ActionCancel)),
		r("POST", "/api/v1/events/:id/reopen", auth.Operator, a.setEventStatus(store.ActionReopen)),
		r("GET", "/api/v1/events/:id/progress", auth.Viewer, eventPages(a, func(ctx context.Context, id int64, cursor string, limit int) ([]store.EventProgress, string, error) {
			return a.Store.Events.ListProgress(ctx, id, cursor, limit)
		}, progressResponse)),
		r("POST", "/api/v1/events/:id/progress", auth.Operator, a.handle(a.addProgress)),
		r("GET", "/api/v1/events/:id/history", auth.Viewer, eventPages(a, func(ctx context.Context, id int64, cursor string, limit int) ([]store.EventChange, string, error) {
			return a.Store.Events.ListHistory(ctx, id, cursor, limit)
		}, eventChangeResponse)),

		r("GET", "/api/v1/files", auth.Viewer, a.handle(a.listFiles)),
		r("POST", filesPath, auth.Operator, a.handle(a.uploadFile)),
		r("GET", "/api/v1/files/:id", auth.Viewer, a.handle(a.getFile)),
		r("GET", "/api/v1/files/:id/content", auth.Viewer, a.fileContent),
		r("DELETE", "/api/v1/files/:id", auth.Operator, a.deleteFile),
		r("POST", "/api/v1/xml-imports/preview", auth.Operator, a.handle(a.previewXML)),
		r("GET", "/api/v1/xml-imports/presets", auth.Viewer, a.handle(a.xmlPresets)),
		r("GET", "/api/v1/content/versions", auth.Viewer, a.handle(a.listContentVersions)),
		r("POST", "/api/v1/content/:source/rollback", auth.Admin, a.handle(a.rollbackContent)),
		r("GET", "/api/v1/content/items", auth.Viewer, a.listContentItems()),
		r("GET", "/api/v1/content/items/:id", auth.Viewer, a.handle(a.getContentItem)),
		r("POST", "/api/v1/content/items/:id/copy", auth.Admin, a.handle(a.copyContentItem)),
		r("GET", "/api/v1/runs/:id/record-issues", auth.Viewer, a.recordIssues()),

		r("GET", "/api/v1/connector-types", auth.Viewer, a.listConnectorTypes),
		r("GET", "/api/v1/connectors", auth.Viewer, a.listConnectors),
		r("POST", "/api/v1/connectors", auth.Admin, a.createConnector),
		r("GET", "/api/v1/connectors/:id", auth.Viewer, a.getConnector),
		r("PUT", "/api/v1/connectors/:id", auth.Admin, a.updateConnector),
		r("DELETE", "/api/v1/connectors/:id", auth.Admin, a.deleteConnector),
		r("POST", "/api/v1/connectors/:id/discover", auth.Operator, a.triggerConnector(workflows.OpDiscover)),
		r("POST", "/api/v1/connectors/:id/sync", auth.Operator, a.triggerConnector(workflows.OpSync)),
		r("POST", "/api/v1/connectors/:id/test-connection", auth.Operator, a.testConnector),
		r("GET", "/api/v1/connectors/:id/operations", auth.Viewer, a.listOperations),
		r("GET", "/api/v1/connectors/:id/records", auth.Viewer, a.listRecords),
		r("GET", "/api/v1/connectors/:id/records/:record_id", auth.Viewer, a.getRecord),
		r("POST", "/api/v1/connectors/:id/records/:record_id/map", auth.Admin, a.mapRecord),
		r("POST", "/api/v1/connectors/:id/records/:record_id/ignore", auth.Admin, a.setRecordState(store.RecordIgnored)),
		r("POST", "/api/v1/connectors/:id/records/:record_id/unmap", auth.Admin, a.setRecordState(store.RecordUnmapped)),

		r("GET", "/api/v1/products", auth.Viewer, a.listProducts),
		r("GET", "/api/v1/products/:id", auth.Viewer, a.getProduct),
		r("GET", "/api/v1/engagements", auth.Viewer, a.listEngagements),
		r("GET", "/api/v1/tests", auth.Viewer, a.listTests),
		r("GET", "/api/v1/tests/:id", auth.Viewer, a.getTest),
		r("GET", "/api/v1/tests/:id/imports", auth.Viewer, a.listImports),
		r("GET", "/api/v1/findings", auth.Viewer, a.listFindings),
		r("GET", "/api/v1/findings/trend", auth.Viewer, a.handle(a.findingTrend)),
		r("GET", "/api/v1/findings/:id", auth.Viewer, a.getFinding),
		r("GET", "/api/v1/findings/:id/history", auth.Viewer, a.findingHistory),

		r("GET", "/api/v1/runs", auth.Viewer, a.listRuns),
		r("GET", "/api/v1/runs/:id", auth.Viewer, a.getRun),

		r("GET", "/api/v1/tokens", auth.Admin, a.listTokens),
		r("POST", "/api/v1/tokens", auth.Admin, a.createToken),
		r("DELETE", "/api/v1/tokens/:id", auth.Admin, a.revokeToken),
		r("GET", "/api/v1/audit", auth.Admin, a.listAudit),
	}, a.dataOutRoutes()...)
}

// Rules returns every route with its role, for tests and documentation.
func Rules() []Rule {
	rs := (&api{}).routes()
	out := make([]Rule, len(rs))
	for i, r := range rs {
		out[i] = r.Rule
	}
	return out
}

// NewRouter returns the API's router.
func NewRouter(opts Options) (*gin.Engine, error) {
	if opts.Store == nil || opts.Dispatcher == nil || opts.Temporal == nil || opts.Namespace == "" || opts.Keyring == nil {
		return nil, errors.New("server: Store, Dispatcher, Temporal, Namespace and Keyring are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 1 << 30
	}
	if opts.UploadTimeout <= 0 {
		opts.UploadTimeout = time.Hour
	}
	if opts.FailedAuthPerMinute <= 0 {
		opts.FailedAuthPerMinute = 10
	}
	a := &api{
		Options: opts, tasks: tasks.New(opts.Store, opts.Dispatcher, opts.Keyring), tokens: auth.NewTokens(opts.Store),
		connectors: connectors.New(opts.Store, opts.Dispatcher, opts.Keyring),
		dataout:    &dataout.Service{Store: opts.Store, Keyring: opts.Keyring, Reporting: opts.Reporting},
		limiter:    newFailureLimiter(opts.FailedAuthPerMinute, opts.Store, opts.Logger),
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if err := r.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server: TrustedProxies: %w", err)
	}
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if opts.Metrics != nil {
		r.Use(opts.Metrics.Middleware())
	}
	r.Use(a.requestLog(), a.recoverJSON(), securityHeaders(), a.limitBody(), a.timeout())
	r.NoRoute(func(c *gin.Context) { renderError(c, a.Logger, errRouteNotFound) })
	r.NoMethod(func(c *gin.Context) { renderError(c, a.Logger, errMethodNotAllowed) })
	for _, rt := range a.routes() {
		// Authenticate, then audit (so that refused attempts by known callers are recorded too),
		// then check the role.
		chain := []gin.HandlerFunc{}
		if rt.Role != auth.Public {
			chain = append(chain, a.authenticate())
		}
		if rt.Method != http.MethodGet {
			chain = append(chain, a.audit())
		}
		if rt.Role != auth.Public {
			chain = append(chain, a.require(rt.Role))
		}
		r.Handle(rt.Method, rt.Path, append(chain, rt.handle)...)
	}
	return r, nil
}

func (a *api) openAPI(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", openAPIDocument) }

// openAPIJSON serves the same document as JSON, for clients without a YAML parser (the web
// console builds task forms from its schemas).
func (a *api) openAPIJSON(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPIJSONDocument)
}

// openAPIJSONDocument is openAPIDocument as JSON, keys in the YAML's order (the console lays
// out a task form in the order its schema lists the fields); the document is embedded, so a
// failure to convert it is a build error that every test would show.
var openAPIJSONDocument = func() []byte {
	b, err := orderedYAMLToJSON(openAPIDocument)
	if err != nil {
		panic("server: openapi.yaml is not valid YAML: " + err.Error())
	}
	return b
}()
