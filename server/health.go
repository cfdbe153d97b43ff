package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/schema"
)

// health is the liveness probe: the process serves requests.
func (a *api) health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// metrics serves the Prometheus metrics; 404 when the server has none.
func (a *api) metrics(c *gin.Context) {
	if a.Metrics == nil {
		renderError(c, a.Logger, errRouteNotFound)
		return
	}
	a.Metrics.Handler().ServeHTTP(c.Writer, c.Request)
}

type readiness struct {
	Status   string            `json:"status"`
	Checks   map[string]string `json:"checks"`
	Duration string            `json:"duration"`
}

// ready is the readiness probe: Postgres answers with the schema up to date, and Temporal answers.
func (a *api) ready(c *gin.Context) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(c, 3*time.Second)
	defer cancel()
	out := readiness{Status: "ready", Checks: map[string]string{}}
	fail := func(name, msg string) {
		out.Status = "not ready"
		out.Checks[name] = msg
	}
	if err := a.Store.DB.PingContext(ctx); err != nil {
		fail("postgres", "unreachable")
	} else if n, err := schema.Pending(ctx, a.Store.DB); err != nil {
		fail("postgres", "cannot read migration status")
	} else if n > 0 {
		fail("postgres", "schema has pending migrations; run tributary-migrate up")
	} else {
		out.Checks["postgres"] = "ok"
	}
	if _, err := a.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		fail("temporal", "unreachable")
	} else {
		out.Checks["temporal"] = "ok"
	}
	out.Duration = time.Since(start).Round(time.Millisecond).String()
	status := http.StatusOK
	if out.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, out)
}
