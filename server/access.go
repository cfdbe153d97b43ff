package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

const principalKey = "tributary.principal"

var (
	errForbidden   = errors.New("forbidden")
	errRateLimited = errors.New("too many failed authentications")
)

// authenticate checks the bearer token (or the console's session cookie) and remembers the
// caller.
func (a *api) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.refuseBlocked(c) {
			return
		}
		creds, err := a.sessionCredentials(c)
		if err != nil {
			a.Logger.WarnContext(c, "session request without its CSRF token refused", "remote", c.ClientIP(), "route", c.FullPath())
			renderError(c, a.Logger, err)
			return
		}
		p, ok := a.checkCredentials(c, creds)
		if !ok {
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// refuseBlocked answers 429 to a client address over its failed-authentication limit.
func (a *api) refuseBlocked(c *gin.Context) bool {
	if !a.limiter.blocked(c.ClientIP()) {
		return false
	}
	c.Header("Retry-After", strconv.Itoa(a.limiter.retryAfterSeconds()))
	renderError(c, a.Logger, errRateLimited)
	return true
}

// checkCredentials authenticates an Authorization header value; a missing or bad token counts
// towards the client's failed-authentication limit and is answered here, as is any other error.
func (a *api) checkCredentials(c *gin.Context, header string) (auth.Principal, bool) {
	p, err := a.tokens.Authenticate(c, header)
	if errors.Is(err, auth.ErrNoToken) || errors.Is(err, auth.ErrBadToken) {
		ip := c.ClientIP()
		a.limiter.fail(c, ip)
		a.Logger.WarnContext(c, "authentication failed", "remote", ip, "route", c.FullPath(), "reason", err.Error())
		c.Header("WWW-Authenticate", `Bearer realm="tributary"`)
		renderError(c, a.Logger, err)
		return p, false
	}
	if err != nil {
		renderError(c, a.Logger, err)
		return p, false
	}
	return p, true
}

// require refuses callers whose role does not allow need.
func (a *api) require(need auth.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !principal(c).Role.Allows(need) {
			renderError(c, a.Logger, errForbidden)
			return
		}
		c.Next()
	}
}

func principal(c *gin.Context) auth.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(auth.Principal)
	return pr
}

const (
	auditResourceKey = "tributary.audit.resource"
	auditSummaryKey  = "tributary.audit.summary"
)

// noteAudit gives the audit entry of this request its resource and a summary.
func noteAudit(c *gin.Context, resourceID, summary string) {
	c.Set(auditResourceKey, resourceID)
	c.Set(auditSummaryKey, summary)
}

// audit records the request in the audit trail once the handler has answered, whatever
// the outcome.
func (a *api) audit() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		p := principal(c)
		e := &store.AuditEvent{
			At: time.Now().UTC(), Actor: p.Name, RemoteAddr: c.ClientIP(), Method: c.Request.Method,
			Route: c.FullPath(), ResourceID: c.Param("id"), Status: c.Writer.Status(),
		}
		if p.TokenID != uuid.Nil {
			id := p.TokenID
			e.TokenID = &id
		}
		if v := c.GetString(auditResourceKey); v != "" {
			e.ResourceID = v
		}
		e.Summary = c.GetString(auditSummaryKey)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
		defer cancel()
		if err := a.Store.Audit.Record(ctx, e); err != nil {
			a.Logger.ErrorContext(c, "audit trail write failed", "route", e.Route, "actor", e.Actor, "error", err.Error())
		}
	}
}

func (a *api) timeout() gin.HandlerFunc {
	return func(c *gin.Context) {
		limit := a.RequestTimeout
		if isUpload(c) {
			limit = a.UploadTimeout
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), limit)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// failureLimiter limits failed authentications per client address, in this process at once
// and across API replicas through Postgres: every failure is recorded there, and the
// addresses over the limit are read back at most every sharedRefresh, so another replica's
// failures block an address here within that time.
type failureLimiter struct {
	mu       sync.Mutex
	perMin   int
	limiters map[string]*rate.Limiter
	st       *store.Store
	log      *slog.Logger
	// shared are the addresses over the limit across replicas, as last read.
	shared    map[string]bool
	refreshed time.Time
	loading   bool
}

// sharedRefresh is how stale this replica's view of the others' failures may be.
const sharedRefresh = time.Second

func newFailureLimiter(perMinute int, st *store.Store, log *slog.Logger) *failureLimiter {
	return &failureLimiter{perMin: perMinute, limiters: map[string]*rate.Limiter{}, st: st, log: log, shared: map[string]bool{}}
}

// blocked reports whether ip has used up its failures, here or across replicas. Addresses
// that never failed have no limiter, so successful requests add nothing to the map; the
// shared view is refreshed in the background, never on the request's path.
func (l *failureLimiter) blocked(ip string) bool {
	l.mu.Lock()
	lim, ok := l.limiters[ip]
	shared := l.shared[ip]
	if !l.loading && time.Since(l.refreshed) > sharedRefresh {
		l.loading = true
		go l.refresh()
	}
	l.mu.Unlock()
	return shared || ok && lim.Tokens() < 1
}

func (l *failureLimiter) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	set, err := l.st.BlockedAddrs(ctx, l.perMin, time.Minute)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loading, l.refreshed = false, time.Now()
	if err != nil {
		l.log.Warn("failed authentications of other replicas not read", "error", err.Error())
		return
	}
	l.shared = set
}

// fail counts a failed authentication from ip, here and for the other replicas.
func (l *failureLimiter) fail(ctx context.Context, ip string) {
	l.mu.Lock()
	lim, ok := l.limiters[ip]
	if !ok {
		if len(l.limiters) > 100_000 { // bound memory under address spraying
			l.limiters = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMin)), l.perMin)
		l.limiters[ip] = lim
	}
	l.mu.Unlock()
	lim.Allow()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := l.st.RecordAuthFailure(rctx, ip); err != nil {
		l.log.Warn("failed authentication not shared with the other replicas", "remote", ip, "error", err.Error())
	}
}

func (l *failureLimiter) retryAfterSeconds() int {
	return int((time.Minute / time.Duration(l.perMin)).Seconds()) + 1
}

type tokenResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	// Token is the secret, present only in the answer to its creation.
	Token string `json:"token,omitempty"`
}

func tokenView(t *store.Token) tokenResponse {
	return tokenResponse{ID: t.ID.String(), Name: t.Name, Role: t.Role, Prefix: t.Prefix, CreatedAt: t.CreatedAt,
		CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func (a *api) listTokens(c *gin.Context) {
	list, err := a.Store.Tokens.List(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	items := make([]tokenResponse, len(list))
	for i := range list {
		items[i] = tokenView(&list[i])
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (a *api) createToken(c *gin.Context) {
	var o auth.CreateOptions
	if err := bindJSON(c, &o, false); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	secret, row, err := a.tokens.Create(c, o, principal(c).Name)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, row.ID.String(), "created "+row.Role+" token "+row.Name)
	v := tokenView(row)
	v.Token = secret
	c.JSON(http.StatusCreated, v)
}

func (a *api) revokeToken(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if err := a.Store.Tokens.Revoke(c, id, time.Now().UTC()); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, id.String(), "revoked token")
	c.Status(http.StatusNoContent)
}

type auditResponse struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	TokenID    *string   `json:"token_id"`
	RemoteAddr string    `json:"remote_addr"`
	Method     string    `json:"method"`
	Route      string    `json:"route"`
	ResourceID string    `json:"resource_id"`
	Status     int       `json:"status"`
	Summary    string    `json:"summary"`
}

func (a *api) listAudit(c *gin.Context) {
	q := c.Request.URL.Query()
	if err := checkQuery(q, "actor", "limit", "cursor"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	var fs []valid.FieldError
	limit, fe := pageLimit(q.Get("limit"), 50)
	if fe != nil {
		fs = append(fs, *fe)
	}
	before := int64(0)
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			fs = append(fs, valid.FieldError{Field: "cursor", Message: "is not a cursor returned by this API"})
		}
		before = n
	}
	if err := valid.Fields(fs...); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, err := a.Store.Audit.List(c, strings.TrimSpace(q.Get("actor")), before, limit+1)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := struct {
		Items      []auditResponse `json:"items"`
		NextCursor string          `json:"next_cursor,omitempty"`
	}{Items: []auditResponse{}}
	if len(list) > limit {
		list = list[:limit]
		out.NextCursor = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	for _, e := range list {
		v := auditResponse{ID: e.ID, At: e.At, Actor: e.Actor, RemoteAddr: e.RemoteAddr, Method: e.Method,
			Route: e.Route, ResourceID: e.ResourceID, Status: e.Status, Summary: e.Summary}
		if e.TokenID != nil {
			s := e.TokenID.String()
			v.TokenID = &s
		}
		out.Items = append(out.Items, v)
	}
	c.JSON(http.StatusOK, out)
}
